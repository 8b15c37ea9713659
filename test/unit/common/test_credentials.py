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

"""The one secret reader (env or file, one rule set) and the one URL redaction."""

import os

import pytest

from unity_kernel_core.common.credentials import read_secret, redact_url, redact_urls
from unity_kernel_core.errors import SecretError


def read(env='X_SECRET', file=None, environ=None, **kwargs):
    return read_secret(env, file, env_key='s.env', file_key='s.file',
                       environ={} if environ is None else environ, **kwargs)


def test_redacted_url_hides_the_password_only():
    assert (redact_url('redis://bob:s3cret@127.0.0.1:6390/0')
            == 'redis://bob:***@127.0.0.1:6390/0')
    assert redact_url('unix:///run/redis.sock') == 'unix:///run/redis.sock'
    assert 's3cret' not in redact_url('rediss://:s3cret@host/0')


def test_redis_url_password_is_redacted():
    assert redact_url('redis://user:pw@host:6379/0') == 'redis://user:***@host:6379/0'
    assert redact_url('redis://:pw@host') == 'redis://:***@host'
    assert redact_url('unix:///tmp/r.sock') == 'unix:///tmp/r.sock'


def test_a_whole_document_is_shown_with_every_url_redacted_at_any_depth():
    document = {'redis': {'url': 'redis://:hunter2@10.0.0.1:6379/0', 'maxlen': 5,
                          'cluster_nodes': ['rediss://u:pw2@a:1', 'b:2']},
                'llm': [{'base_url': 'https://api.example/v1?api_key=k3y'}],
                'name': 'plain text', 'none': None}
    shown = redact_urls(document)
    text = repr(shown)
    assert 'hunter2' not in text and 'pw2' not in text and 'k3y' not in text
    assert shown['redis']['url'] == 'redis://:***@10.0.0.1:6379/0'
    assert shown['redis']['maxlen'] == 5 and shown['name'] == 'plain text'
    assert shown['redis']['cluster_nodes'][1] == 'b:2' and shown['none'] is None
    assert document['redis']['url'].startswith('redis://:hunter2')  # the original is kept


def test_redaction_covers_query_secrets_odd_urls_and_no_url():
    assert (redact_url('redis://h/0?password=pw&db=1&x_Token=t#f')
            == 'redis://h/0?password=***&db=1&x_Token=***#f')
    assert redact_url('redis://bob@host:1/0') == 'redis://bob@host:1/0'  # no password
    assert 'pa/ss' not in redact_url('redis://u:pa/ss@host:1')  # '/' in the password
    assert redact_url('u:pw@host') == 'u:***@host'  # no scheme
    assert 'x' not in redact_url('redis://u:x@h:notaport').split('@')[0]
    assert redact_url(None) == redact_url('') == '(none)'


def test_the_variable_wins_stripped_then_the_first_line_of_the_file(tmp_path):
    secret = tmp_path / 'pw'
    secret.write_text(' from-file \nsecond line\n')
    assert read(file=str(secret)) == 'from-file'
    assert read(file=str(secret), environ={'X_SECRET': ' from-env\n'}) == 'from-env'
    assert read(file=str(secret), environ={'X_SECRET': '  '}) == 'from-file'  # blank: unset
    assert read() is None and read(env=None) is None


def test_the_file_path_expands_home_and_variables(tmp_path, monkeypatch):
    (tmp_path / 'key').write_text('k\n')
    monkeypatch.setenv('SECRET_DIR', str(tmp_path))
    assert read(file='$SECRET_DIR/key') == 'k'
    monkeypatch.setenv('HOME', str(tmp_path))
    assert read(file='~/key') == 'k'


def test_a_file_that_cannot_be_read_or_is_empty_is_one_error_naming_the_setting(tmp_path):
    with pytest.raises(SecretError, match=r'^s\.file: cannot read it: .*file not found'):
        read(file=str(tmp_path / 'none'))
    (tmp_path / 'empty').write_text('\n\nlate\n')
    with pytest.raises(SecretError, match=r'^s\.file .*empty, expected the secret on its first'):
        read(file=str(tmp_path / 'empty'))
    (tmp_path / 'big').write_text('x' * (64 * 1024 + 1))
    with pytest.raises(SecretError, match='larger than the limit'):
        read(file=str(tmp_path / 'big'))
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)  # refused at once, not read (a read would block until a writer came)
    with pytest.raises(SecretError, match='not a regular file'):
        read(file=str(fifo))


def test_a_required_secret_names_what_to_set_and_never_shows_a_value(tmp_path):
    with pytest.raises(SecretError, match='s.env: environment variable NOT_SET is not set'):
        read(env='NOT_SET', required=True)
    with pytest.raises(SecretError, match='set s.env or s.file'):
        read(env=None, required=True)
    (tmp_path / 'k').write_text('t0ps3cret-but-with-\xff-no\n', encoding='latin-1')
    with pytest.raises(SecretError) as info:
        read(file=str(tmp_path / 'k'))
    assert 't0ps3cret' not in str(info.value)
