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
Fuzz: the one secret reader and the TLS file check, over any file and any variable.

``read_secret`` (the Redis password, the live view's token, a model's API key) returns the
variable's value or the file's first line, stripped, or raises SecretError naming the
setting; ``check_tls_files`` returns the files or raises SecretError. Neither raises anything
else, nor ever shows the secret in its message.
"""

import os

from hypothesis import example, given, strategies as st
import pytest

from unity_kernel_core.common.credentials import check_tls_files, read_secret
from unity_kernel_core.errors import SecretError

SECRET = 's3cr3t-VALUE'


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp('secrets')


@given(content=st.one_of(st.binary(max_size=80), st.text(max_size=60).map(str.encode),
                         st.sampled_from([b'', b'\n', b'\r\n' + SECRET.encode(),
                                          SECRET.encode() + b'\n\x00',
                                          b'\xff' + SECRET.encode(), b' ' * 70000])),
       env_value=st.one_of(st.none(), st.text(max_size=20)),
       kind=st.sampled_from(['file', 'missing', 'directory', 'fifo', 'nul']))
@example(content=b'\xff\xfe', env_value=None, kind='file')
def test_any_secret_file_or_variable_is_a_secret_or_a_secret_error(folder, content, env_value,
                                                                   kind):
    path = folder / 'secret'
    for old in (path,):
        if old.is_dir():
            old.rmdir()
        elif os.path.lexists(old):
            old.unlink()
    if kind == 'file':
        path.write_bytes(content)
    elif kind == 'directory':
        path.mkdir()
    elif kind == 'fifo':
        os.mkfifo(path)
    file = str(path) + ('\0x' if kind == 'nul' else '')
    environ = {} if env_value is None else {'SECRET_ENV': env_value}
    try:
        value = read_secret('SECRET_ENV', file, env_key='x.env', file_key='x.file',
                            environ=environ)
    except SecretError as exc:
        assert 'x.file' in str(exc) and SECRET not in str(exc)
        return
    assert isinstance(value, str) and value and value == value.strip()
    if env_value is not None and env_value.strip():
        assert value == env_value.strip()
    else:  # the file's first line, stripped (a blank one is an error)
        assert value == content.decode('utf-8').splitlines()[0].strip()


@given(st.sampled_from([b'-----BEGIN CERTIFICATE-----\nMIIB\n',
                        b'-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n',
                        b'-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n', b'']),
       st.binary(max_size=40))
def test_any_tls_file_is_accepted_or_refused_with_its_setting(folder, pem, noise):
    path = folder / 'tls.pem'
    path.write_bytes(pem + noise)
    try:
        files = check_tls_files({'x.tls_key_file': str(path), 'x.tls_ca_file': None})
    except SecretError as exc:
        assert str(exc).startswith('x.tls_key_file')
        return
    assert files == {'x.tls_key_file': str(path)}
    assert b'ENCRYPTED' not in pem
