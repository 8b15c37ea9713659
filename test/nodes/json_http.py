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

"""The JSON-answering HTTP handler base of the loopback model servers used in tests."""

from http.server import BaseHTTPRequestHandler
import json
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers JSON with :meth:`send_json`."""

    def log_message(self, *args: Any) -> None:
        pass

    def send_json(self, status: int, payload: Any) -> None:
        """Answer ``status`` with ``payload`` as a JSON body (with its length)."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
