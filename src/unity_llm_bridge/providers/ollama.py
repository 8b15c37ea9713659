# Copyright 2026 UnityKernel contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
The Ollama API: ``/api/chat``, ``/api/generate``, ``/api/tags``.

Streaming answers are NDJSON: one JSON object per line, the last one with ``"done": true``
and the token counts (``prompt_eval_count``, ``eval_count``).
"""

import time
from typing import Any, Dict, List, Optional

from unity_llm_bridge.errors import ProviderError
from unity_llm_bridge.providers.base import AnswerBuffer, Completion, count, DeltaCallback
from unity_llm_bridge.providers.base import field, HttpProvider, Messages
from unity_llm_bridge.routing import estimate_tokens, messages_tokens


class OllamaProvider(HttpProvider):
    """A model served by Ollama (or anything speaking its API)."""

    def list_models(self) -> List[str]:
        items = field(self._get_json('/api/tags'), 'models')
        return [str(m.get('name')) for m in items if isinstance(m, dict)] \
            if isinstance(items, list) else []

    def _options(self) -> Dict[str, Any]:
        return {'temperature': self.settings.temperature, 'num_predict': self.settings.max_tokens}

    def chat(self, messages: Messages, *, json_mode: bool = False,
             on_delta: Optional[DeltaCallback] = None,
             max_chars: Optional[int] = None) -> Completion:
        body: Dict[str, Any] = {'model': self.settings.model, 'messages': list(messages),
                                'stream': on_delta is not None, 'options': self._options()}
        if json_mode:
            body['format'] = 'json'
        return self._call('/api/chat', body, on_delta, max_chars, messages_tokens(messages),
                          lambda d: field(d, 'message', 'content'))

    def generate(self, prompt: str, *, system: str = '', on_delta: Optional[DeltaCallback] = None,
                 max_chars: Optional[int] = None) -> Completion:
        """Complete a plain prompt with ``/api/generate``."""
        body: Dict[str, Any] = {'model': self.settings.model, 'prompt': prompt,
                                'stream': on_delta is not None, 'options': self._options()}
        if system:
            body['system'] = system
        return self._call('/api/generate', body, on_delta, max_chars,
                          estimate_tokens(system + prompt), lambda d: d.get('response'))

    def _call(self, path: str, body: Dict[str, Any], on_delta: Optional[DeltaCallback],
              max_chars: Optional[int], prompt_estimate: int, content: Any) -> Completion:
        started = time.monotonic()
        buffer = AnswerBuffer(on_delta, max_chars)
        final: Optional[Dict[str, Any]] = None
        for line in self._stream_lines(path, body):
            if not line.strip():
                continue
            data = self._parse(line, 'answer line')
            piece = content(data)
            if isinstance(piece, str):
                buffer.add(piece)
            if data.get('done'):
                final = data
                break
        if final is None:
            raise ProviderError(self.name, 'protocol', 'answer ended without "done": true')
        reported = 'prompt_eval_count' in final or 'eval_count' in final
        return Completion(
            text=buffer.text,
            prompt_tokens=count(final.get('prompt_eval_count'), prompt_estimate),
            completion_tokens=count(final.get('eval_count'), estimate_tokens(buffer.text)),
            usage_reported=reported, latency_s=time.monotonic() - started, chunks=buffer.chunks)
