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
The batch connection reaches the server as the client does: unix socket, password, database.

Against a real redis-server on a unix socket with a password; the TCP, ACL and TLS cases run
in test_resp.py and test_fleet_cluster.py.
"""

import shutil
import socket
import subprocess
import threading

import pytest
import redis
import support

from unity_kernel_core.audit.resp import execute_packed, pack_command

pytestmark = pytest.mark.redis


@pytest.fixture
def unix_redis(tmp_path):
    sock = tmp_path / 'r.sock'
    proc = subprocess.Popen([shutil.which('redis-server'), '--port', '0', '--unixsocket',
                             str(sock), '--unixsocketperm', '700', '--requirepass', 's3cret',
                             '--save', '', '--dir', str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    support.wait_for(sock.exists, 10, message='redis-server on its unix socket')
    yield sock
    proc.terminate()
    proc.wait(10)


def test_a_batch_goes_over_a_unix_socket_with_password_into_the_clients_database(unix_redis):
    client = redis.Redis.from_url(f'unix://:s3cret@{unix_redis}?db=3')
    replies = execute_packed(client, [pack_command(('SET', 'k', 'v')),
                                      pack_command(('INCR', 'n'))])
    assert replies == [b'OK', 1]
    db3 = redis.Redis(unix_socket_path=str(unix_redis), password='s3cret', db=3)
    assert db3.get('k') == b'v'
    assert redis.Redis(unix_socket_path=str(unix_redis), password='s3cret').get('k') is None


def test_a_wrong_password_is_the_error_redis_py_raises_and_nothing_is_written(unix_redis):
    client = redis.Redis.from_url(f'unix://:wrong@{unix_redis}')
    with pytest.raises(redis.AuthenticationError):
        execute_packed(client, [pack_command(('SET', 'k', 'v'))])
    assert redis.Redis(unix_socket_path=str(unix_redis), password='s3cret').get('k') is None


def test_a_server_that_never_answers_is_a_timeout_and_the_next_batch_connects_again(tmp_path):
    listener = socket.create_server(('127.0.0.1', 0))  # accepts, reads, never answers
    accepted = []

    def accept():
        while True:
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            accepted.append(conn)
    threading.Thread(target=accept, daemon=True).start()
    client = redis.Redis(port=listener.getsockname()[1], socket_timeout=0.3)
    for _ in range(2):
        with pytest.raises(redis.TimeoutError):
            execute_packed(client, [pack_command(('PING',))])
    support.wait_for(lambda: len(accepted) == 2, 5, message='a fresh connection per batch')
    listener.close()
