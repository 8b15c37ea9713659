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
A small Foxglove WebSocket protocol client for tests and benchmarks (``websockets``, sync).

It reads on a thread of its own and records what the server says: channels advertised and
withdrawn, messages per subscription with their arrival time, service answers, parameter
values, connection graph updates and status messages. ``slow_client`` opens a connection
that subscribes and then never reads; ``SlowReader`` one that subscribes and reads at a
fixed, low byte rate.
"""

import base64
import json
import os
import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
import urllib.parse

from websockets.sync.client import connect

#: Offered in this order: the spec's name, then the one foxglove-sdk servers require.
SUBPROTOCOLS = ['foxglove.websocket.v1', 'foxglove.sdk.v1']


def _connect(url: str, ssl: Any, attempts: int = 3, timeout: float = 15.0) -> Any:
    """
    Open the WebSocket, trying again when the handshake goes unanswered.

    Seen once in CI (wss, foxglove-sdk 0.30.3): the server accepted the TLS connection but
    did not answer the upgrade within ``open_timeout``, and websockets then hangs joining
    its reader thread (a thread blocked in an SSL read is not woken by closing the
    socket). So each attempt runs on a daemon thread with a deadline of its own, as a
    Foxglove app reconnects; every attempt failing is an error.
    """
    errors: List[str] = []
    for _ in range(attempts):
        result: Dict[str, Any] = {}

        def attempt() -> None:
            try:
                result['ws'] = connect(url, subprotocols=SUBPROTOCOLS,  # type: ignore[arg-type]
                                       max_size=None, compression=None, open_timeout=10,
                                       ssl=ssl).__enter__()
            except Exception as exc:  # reported below, with the other attempts
                result['error'] = exc

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(timeout)
        if 'ws' in result:
            return result['ws']
        errors.append(repr(result.get('error', f'no answer within {timeout}s')))
    raise ConnectionError(f'cannot connect to {url}: ' + '; '.join(errors))


class FoxgloveClient:
    """Connect, subscribe, call services; everything received is kept on the object."""

    def __init__(self, url: str, keep_payloads: bool = True, ssl: Any = None) -> None:
        self.ws = _connect(url, ssl)
        self.keep_payloads = keep_payloads
        self.server_info: Dict[str, Any] = {}
        self.channels: Dict[str, Dict[str, Any]] = {}
        self.withdrawn: List[str] = []
        self.services: Dict[str, Dict[str, Any]] = {}
        self.messages: Dict[int, List[Tuple[float, int, bytes]]] = {}
        self.counts: Dict[int, int] = {}
        self.bytes = 0
        self.on_message: Optional[Callable[[int, float, int, bytes], None]] = None
        self.replies: Dict[int, bytes] = {}
        self.json_log: List[Dict[str, Any]] = []
        self._sub_topics: Dict[int, str] = {}
        self._next_id = 1
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.wait(lambda: self.server_info, 10, 'serverInfo')

    # -- receiving -------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            for frame in self.ws:
                now = time.monotonic()
                if isinstance(frame, bytes):
                    self._binary(frame, now)
                else:
                    self._json(json.loads(frame))
        except Exception:  # connection closed: the reader ends
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _binary(self, frame: bytes, now: float) -> None:
        op = frame[0]
        if op == 0x01:
            sub_id, log_time = struct.unpack_from('<IQ', frame, 1)
            payload = frame[13:]
            if self.on_message is not None:
                self.on_message(sub_id, now, log_time, payload)
            with self._cond:
                self.counts[sub_id] = self.counts.get(sub_id, 0) + 1
                self.bytes += len(payload)
                if self.keep_payloads:
                    self.messages.setdefault(sub_id, []).append((now, log_time, payload))
                self._cond.notify_all()
        elif op == 0x03:
            _service_id, call_id, enc_len = struct.unpack_from('<III', frame, 1)
            with self._cond:
                self.replies[call_id] = frame[13 + enc_len:]
                self._cond.notify_all()

    def _json(self, msg: Dict[str, Any]) -> None:
        with self._cond:
            op = msg.get('op')
            self.json_log.append(msg)
            if op == 'serverInfo':
                self.server_info = msg
            elif op == 'advertise':
                for ch in msg['channels']:
                    self.channels[ch['topic']] = ch
            elif op == 'unadvertise':
                for topic, ch in list(self.channels.items()):
                    if ch['id'] in msg['channelIds']:
                        del self.channels[topic]
                        self.withdrawn.append(topic)
            elif op == 'advertiseServices':
                for service in msg['services']:
                    self.services[service['name']] = service
            elif op == 'serviceCallFailure':
                self.replies[msg['callId']] = json.dumps(
                    {'success': False, 'message': msg.get('message', '')}).encode()
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Wait until ``predicate()`` (called under the lock) is truthy; raise if not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AssertionError(f'timed out after {timeout} s waiting for {what}')
                self._cond.wait(min(left, 0.2))

    # -- requests --------------------------------------------------------------------------

    def _send(self, msg: Dict[str, Any]) -> None:
        self.ws.send(json.dumps(msg))

    def subscribe(self, topic: str, timeout: float = 20.0) -> int:
        """Subscribe to ``topic`` (waiting for it to be advertised); return the subscription."""
        channel = self.wait(lambda: self.channels.get(topic), timeout, f'{topic} advertised')
        sub_id = self._next_id
        self._next_id += 1
        self._sub_topics[sub_id] = topic
        self._send({'op': 'subscribe', 'subscriptions': [{'id': sub_id,
                                                          'channelId': channel['id']}]})
        return sub_id

    def unsubscribe(self, sub_id: int) -> None:
        """End a subscription."""
        self._send({'op': 'unsubscribe', 'subscriptionIds': [sub_id]})

    def call_service(self, name: str, request: Dict[str, Any], timeout: float = 20.0) -> Any:
        """Call a JSON service by name; return the decoded JSON answer."""
        service = self.wait(lambda: self.services.get(name), timeout, f'service {name}')
        call_id = self._next_id
        self._next_id += 1
        encoding = b'json'
        self.ws.send(struct.pack('<BIII', 0x02, service['id'], call_id, len(encoding))
                     + encoding + json.dumps(request).encode())
        reply = self.wait(lambda: self.replies.get(call_id), timeout, f'answer from {name}')
        return json.loads(reply)

    def request_json(self, msg: Dict[str, Any], answer_op: str, timeout: float = 10.0) -> Any:
        """Send a JSON request and return the next message with op ``answer_op``."""
        start = len(self.json_log)
        self._send(msg)
        return self.wait(lambda: next((m for m in self.json_log[start:]
                                       if m.get('op') == answer_op), None),
                         timeout, answer_op)

    def close(self) -> None:
        """Close the connection."""
        self.ws.close()
        self._thread.join(5)


def _raw_handshake(url: str, rcvbuf: int = 4096) -> socket.socket:
    """
    Open a WebSocket over a plain socket with a small receive buffer; return the socket.

    ``url``'s path and query (a ``?token=``) go into the request line as a browser sends them.
    """
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or '', parts.port
    target = (parts.path or '/') + (f'?{parts.query}' if parts.query else '')
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port or 80)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f'GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n'
                  f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
                  f'Sec-WebSocket-Version: 13\r\n'
                  f'Sec-WebSocket-Protocol: {", ".join(SUBPROTOCOLS)}\r\n\r\n').encode())
    head = b''
    while b'\r\n\r\n' not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError('slow client: connection closed during the handshake')
        head += chunk
    if b' 101 ' not in head.split(b'\r\n', 1)[0]:
        raise AssertionError(f'slow client: handshake refused: {head[:200]!r}')
    return sock


def _subscribe_raw(sock: socket.socket, topics: List[str],
                   channels: Dict[str, Dict[str, Any]]) -> Dict[str, int]:
    subs = [{'id': i + 1, 'channelId': channels[t]['id']} for i, t in enumerate(topics)]
    sock.sendall(_masked_text(json.dumps({'op': 'subscribe', 'subscriptions': subs})))
    return {t: i + 1 for i, t in enumerate(topics)}


def slow_client(url: str, topics: List[str], channels: Dict[str, Dict[str, Any]]) -> socket.socket:
    """
    Open a raw WebSocket connection that subscribes to ``topics`` and then never reads.

    ``channels`` is a FoxgloveClient's advertised channels (for the ids). The receive buffer
    is kept small so the server's send queue for this client fills quickly.
    """
    sock = _raw_handshake(url)
    _subscribe_raw(sock, topics, channels)
    return sock


class SlowReader:
    """
    A client that subscribes to ``topics`` and reads at most ``chunk`` bytes every ``pause``.

    Frames are parsed as they complete; ``messages[topic]`` holds ``(arrival, log_time,
    payload)`` of each message data frame, in arrival order, and ``order`` the topics of all
    of them in arrival order; ``texts`` the JSON messages; ``closed`` is set when the server
    closed the connection.
    """

    def __init__(self, url: str, topics: List[str], channels: Dict[str, Dict[str, Any]],
                 chunk: int = 65536, pause: float = 0.1) -> None:
        self.sock = _raw_handshake(url)
        self.subs = _subscribe_raw(self.sock, topics, channels)
        self._topic_of = {v: k for k, v in self.subs.items()}
        self.messages: Dict[str, List[Tuple[float, int, bytes]]] = {t: [] for t in topics}
        self.order: List[Tuple[str, int]] = []
        self.texts: List[Dict[str, Any]] = []
        self.closed = threading.Event()
        self.chunk, self.pause = chunk, pause
        self._buf = bytearray()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                got = 0
                while got < self.chunk:  # a small receive buffer returns a few kB per call
                    data = self.sock.recv(self.chunk - got)
                    if not data:
                        return
                    got += len(data)
                    self._buf += data
                    self._parse(time.monotonic())
                self._stop.wait(self.pause)
        except OSError:
            return
        finally:
            self.closed.set()

    def _parse(self, now: float) -> None:
        while len(self._buf) >= 2:
            opcode, length = self._buf[0] & 0x0F, self._buf[1] & 0x7F
            start = 2
            if length == 126:
                if len(self._buf) < 4:
                    return
                (length,) = struct.unpack_from('!H', self._buf, 2)
                start = 4
            elif length == 127:
                if len(self._buf) < 10:
                    return
                (length,) = struct.unpack_from('!Q', self._buf, 2)
                start = 10
            if len(self._buf) < start + length:
                return
            payload = bytes(self._buf[start:start + length])
            del self._buf[:start + length]
            if opcode == 0x1:
                with self._lock:
                    self.texts.append(json.loads(payload))
            elif opcode == 0x2 and payload and payload[0] == 0x01:
                sub_id, log_time = struct.unpack_from('<IQ', payload, 1)
                topic = self._topic_of.get(sub_id, '?')
                with self._lock:
                    self.messages.setdefault(topic, []).append((now, log_time, payload[13:]))
                    self.order.append((topic, log_time))

    def count(self, topic: str) -> int:
        """Return how many messages of ``topic`` arrived so far."""
        with self._lock:
            return len(self.messages.get(topic, []))

    def close(self) -> None:
        """Stop reading and close the socket."""
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(5)
        self.sock.close()


def _masked_text(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack('!BB', 0x81, 0x80 | n)
    elif n < 65536:
        head = struct.pack('!BBH', 0x81, 0x80 | 126, n)
    else:
        head = struct.pack('!BBQ', 0x81, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
