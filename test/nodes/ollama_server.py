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
A small server speaking the Ollama API over a real GGUF model through llama_cpp.

No Ollama server can be installed on these machines, so the bridge's Ollama backend is tested
against this one: ``GET /api/tags``, ``POST /api/chat`` and ``POST /api/generate``, answers
streamed as NDJSON (one JSON object per line, the last one with ``"done": true`` and token
counts) or, with ``"stream": false``, as one JSON object. ``"format": "json"`` constrains the
answer to JSON, as Ollama does.

``python test/nodes/ollama_server.py --model M.gguf --name smollm2:135m --port 11434``
"""

import argparse
from http.server import ThreadingHTTPServer
import json
import sys
import threading
import time

from json_http import JsonHandler
from llama_cpp import Llama


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', required=True)
    parser.add_argument('--name', default='smollm2:135m')
    parser.add_argument('--port', type=int, required=True)
    args = parser.parse_args(argv)
    llm = Llama(model_path=args.model, n_ctx=2048, n_threads=1, verbose=False)
    lock = threading.Lock()  # one llama context: one generation at a time

    class Handler(JsonHandler):
        protocol_version = 'HTTP/1.1'

        def do_GET(self) -> None:
            if self.path != '/api/tags':
                self.send_json(404, {'error': f'not found: {self.path}'})
                return
            self.send_json(200, {'models': [{'name': args.name, 'model': args.name,
                                             'details': {'format': 'gguf'}}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))))
            if body.get('model') != args.name:
                self.send_json(404, {'error': f"model '{body.get('model')}' not found"})
                return
            options = body.get('options') or {}
            params = {'max_tokens': int(options.get('num_predict', 128)),
                      'temperature': float(options.get('temperature', 0.8))}
            if self.path == '/api/chat':
                key = 'message'
                if body.get('format') == 'json':
                    params['response_format'] = {'type': 'json_object'}
                with lock:
                    pieces = self._chat(body['messages'], params, body.get('stream', True))
            elif self.path == '/api/generate':
                key = 'response'
                prompt = (body.get('system', '') + '\n' + body['prompt']).strip()
                with lock:
                    pieces = self._generate(prompt, params, body.get('stream', True))
            else:
                self.send_json(404, {'error': f'not found: {self.path}'})
                return
            self._answer(key, pieces, body.get('stream', True))

        def _chat(self, messages, params, stream):
            if not stream:
                out = llm.create_chat_completion(messages=messages, **params)
                return [out['choices'][0]['message']['content']], out['usage']
            parts = [c['choices'][0]['delta'].get('content', '') for c in
                     llm.create_chat_completion(messages=messages, stream=True, **params)]
            return parts, None

        def _generate(self, prompt, params, stream):
            if not stream:
                out = llm.create_completion(prompt=prompt, **params)
                return [out['choices'][0]['text']], out['usage']
            parts = [c['choices'][0]['text'] for c in
                     llm.create_completion(prompt=prompt, stream=True, **params)]
            return parts, None

        def _answer(self, key, result, stream) -> None:
            parts, usage = result
            text = ''.join(parts)
            counts = {'eval_count': usage['completion_tokens'] if usage else len(parts)}
            if usage:  # llama_cpp reports prompt tokens only when not streaming
                counts['prompt_eval_count'] = usage['prompt_tokens']
            now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())

            def item(content, done):
                value = {'role': 'assistant', 'content': content} if key == 'message' \
                    else content
                return {'model': args.name, 'created_at': now, key: value, 'done': done}
            if not stream:
                self.send_json(200, {**item(text, True), 'done_reason': 'stop', **counts})
                return
            self.send_response(200)
            self.send_header('Content-Type', 'application/x-ndjson')
            self.send_header('Connection', 'close')
            self.end_headers()
            for part in parts:
                if part:
                    self.wfile.write((json.dumps(item(part, False)) + '\n').encode())
                    self.wfile.flush()
            final = {**item('', True), 'done_reason': 'stop', **counts}
            self.wfile.write((json.dumps(final) + '\n').encode())
            self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(('127.0.0.1', args.port), Handler)
    server.daemon_threads = True
    print(f'ollama test server: {args.name} on 127.0.0.1:{args.port}', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
