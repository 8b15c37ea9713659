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

"""Connecting to Redis, without a server: the password from env or file, TLS options."""

import pytest

from unity_kernel_core.audit.redis_connection import connect, resolve_password
from unity_kernel_core.config.kernel_config import parse_config
from unity_kernel_core.errors import AuditError, ConfigError, SecretError


def settings(text=''):
    return parse_config(f'redis: {{{text}}}\n').redis


def test_password_comes_from_env_then_file(tmp_path):
    secret = tmp_path / 'pw'
    secret.write_text('from-file\n')
    s = settings(f'password_file: {secret}')
    assert resolve_password(s, {}) == 'from-file'
    assert resolve_password(s, {'UNITY_REDIS_PASSWORD': 'from-env'}) == 'from-env'
    missing = settings(f'password_file: {tmp_path / "nope"}')
    with pytest.raises(SecretError, match='cannot read it'):
        resolve_password(missing, {})
    (tmp_path / 'empty').write_text('\n')
    with pytest.raises(SecretError, match='empty'):
        resolve_password(settings(f'password_file: {tmp_path / "empty"}'), {})


def test_tls_files_need_a_rediss_url(tmp_path):
    with pytest.raises(ConfigError, match='not rediss'):
        settings('url: "redis://127.0.0.1:1/0", tls_ca_file: /ca.pem')
    ca = tmp_path / 'ca.pem'
    ca.write_text('-----BEGIN CERTIFICATE-----\n')
    s = settings(f'url: "rediss://127.0.0.1:1/0", tls_ca_file: {ca}, tls_verify: false')
    client = connect(s, environ={})
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs['ssl_ca_certs'] == str(ca) and kwargs['ssl_cert_reqs'] == 'none'
    with pytest.raises(ConfigError, match='expected redis://'):
        settings('url: "http://x"')  # the schema refuses it now, naming the key
    with pytest.raises(AuditError, match='unsupported Redis URL scheme'):
        connect(s, 'http://x', environ={})


@pytest.mark.timeout(20)
def test_a_fifo_as_password_file_is_refused_without_blocking(tmp_path):
    import os
    fifo = tmp_path / 'pw'
    os.mkfifo(fifo)
    with pytest.raises(SecretError, match='not a regular file'):
        resolve_password(settings(f'password_file: {fifo}'), {})


@pytest.mark.timeout(20)
def test_tls_files_that_would_block_or_prompt_are_refused_at_connect(tmp_path):
    """Regression: a FIFO as CA blocked OpenSSL; an encrypted key made it ask on the terminal."""
    import os
    fifo, key, cert = tmp_path / 'ca', tmp_path / 'key.pem', tmp_path / 'cert.pem'
    os.mkfifo(fifo)
    key.write_text('-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n')
    cert.write_text('-----BEGIN CERTIFICATE-----\n')
    with pytest.raises(SecretError, match='redis.tls_ca_file: cannot read it: .*not a regular'):
        connect(settings(f'url: "rediss://127.0.0.1:1/0", tls_ca_file: {fifo}'), environ={})
    with pytest.raises(SecretError, match='redis.tls_key_file .* encrypted private key'):
        connect(settings(f'url: "rediss://127.0.0.1:1/0", tls_cert_file: {cert}, '
                         f'tls_key_file: {key}'), environ={})
    with pytest.raises(SecretError, match='redis.tls_ca_file: cannot read it: .*not found'):
        connect(settings(f'url: "rediss://127.0.0.1:1/0", tls_ca_file: {tmp_path / "no"}'),
                environ={})
