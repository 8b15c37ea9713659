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
OpenAI-compatible chat completions (llama.cpp server, vLLM, LM Studio, hosted APIs).

``POST {base_url}/chat/completions``; with streaming the answer is Server-Sent Events
(``data: {...}`` lines, ended by ``data: [DONE]``); ``GET {base_url}/models`` lists models.
"""

import time
from typing import Any, Dict, List, Optional

from unity_llm_bridge.errors import ProviderError
from unity_llm_bridge.providers.base import AnswerBuffer, Completion, count, DeltaCallback
from unity_llm_bridge.providers.base import field, HttpProvider, Messages
from unity_llm_bridge.routing import estimate_tokens, messages_tokens


class OpenAIProvider(HttpProvider):
    """A model served with the OpenAI chat-completions API."""

    def list_models(self) -> List[str]:
        items = field(self._get_json('/models'), 'data')
        return [str(m.get('id')) for m in items if isinstance(m, dict)] \
            if isinstance(items, list) else []

    def chat(self, messages: Messages, *, json_mode: bool = False,
             on_delta: Optional[DeltaCallback] = None,
             max_chars: Optional[int] = None) -> Completion:
        s = self.settings
        stream = on_delta is not None
        body: Dict[str, Any] = {'model': s.model, 'messages': list(messages),
                                'max_tokens': s.max_tokens, 'temperature': s.temperature,
                                'stream': stream}
        if json_mode:
            body['response_format'] = {'type': 'json_object'}
        started = time.monotonic()
        buffer = AnswerBuffer(on_delta, max_chars)
        usage: Optional[Dict[str, Any]] = None
        if stream:
            done = False
            for line in self._stream_lines('/chat/completions', body):
                if not line.startswith('data:'):
                    continue  # SSE comments, event names, keep-alives
                payload = line[5:].strip()
                if payload == '[DONE]':
                    done = True
                    break
                data = self._parse(payload, 'stream event')
                usage = data.get('usage') or usage
                choices = data.get('choices') or []
                for choice in choices if isinstance(choices, list) else ():
                    delta = field(choice, 'delta', 'content')
                    if isinstance(delta, str):
                        buffer.add(delta)
            if not done:
                raise ProviderError(self.name, 'protocol', 'stream ended without [DONE]')
        else:
            text = self.read_all(self._stream_lines('/chat/completions', body))
            data = self._parse(text, 'answer')
            usage = data.get('usage')
            content = field(data, 'choices', 0, 'message', 'content')
            if not isinstance(content, str):
                raise ProviderError(self.name, 'protocol', 'answer has no '
                                                           'choices[0].message.content')
            buffer.add(content)
        reported = isinstance(usage, dict) and 'prompt_tokens' in usage
        estimated = estimate_tokens(buffer.text)
        return Completion(
            text=buffer.text,
            prompt_tokens=count(field(usage, 'prompt_tokens'), messages_tokens(messages)),
            completion_tokens=count(field(usage, 'completion_tokens'), 0) if reported
            else estimated,
            usage_reported=reported, latency_s=time.monotonic() - started,
            chunks=buffer.chunks)
