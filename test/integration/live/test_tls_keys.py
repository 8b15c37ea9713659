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
An encrypted TLS key never makes a process ask for its passphrase on a terminal.

OpenSSL's default, when ``ssl`` is given no password for an encrypted key, is to prompt on
the controlling terminal and wait: the kernel (or its writer process) would hang at start.
"""

import subprocess

import cluster_support
import pytest

from unity_kernel_core.common.credentials import check_tls_files
from unity_kernel_core.errors import SecretError
from unity_kernel_core.live.http_edge import HttpServer


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    paths = cluster_support.make_certs(tmp_path_factory.mktemp('certs'))
    encrypted = paths['key'].with_name('encrypted.pem')
    subprocess.run(['openssl', 'pkey', '-in', str(paths['key']), '-out', str(encrypted),
                    '-aes256', '-passout', 'pass:secret'], check=True, capture_output=True,
                   timeout=60)
    return {**paths, 'encrypted': encrypted}


def test_an_encrypted_key_is_refused_up_front_and_by_the_server_itself(keys):
    """Regression: the dashboard's ssl context prompted "Enter PEM pass phrase:" and waited."""
    assert check_tls_files({'k': str(keys['key'])}) == {'k': str(keys['key'])}
    with pytest.raises(SecretError, match='k .* encrypted private key'):
        check_tls_files({'k': str(keys['encrypted'])})
    # past the check (a key swapped after it): the server refuses it, without a prompt
    with pytest.raises(SecretError, match='encrypted'):
        HttpServer('127.0.0.1', 0, lambda request: None,
                   tls=(str(keys['cert']), str(keys['encrypted'])))
    server = HttpServer('127.0.0.1', 0, lambda request: None,
                        tls=(str(keys['cert']), str(keys['key'])))
    try:
        assert server.tls
    finally:
        server._server.server_close()
