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

"""Fuzz: redact_text never raises, and a token or password in any line is never shown."""

from hypothesis import given, strategies as st

from unity_kernel_core.common.credentials import redact_text

secret = st.from_regex(r'[A-Za-z0-9]{6,24}', fullmatch=True)
noise = st.text(max_size=40)


@given(noise)
def test_any_text_is_redacted_without_raising(text):
    assert isinstance(redact_text(text), str)


@given(noise, secret, noise, st.sampled_from(['token', 'password', 'api_key', 'X-Auth-Token']))
def test_a_secret_parameter_is_never_shown(before, value, after, name):
    line = f'{before} GET /?{name}={value}&x=1 {after}'
    assert value not in redact_text(line).replace(before, '').replace(after, '')


@given(noise, secret, noise)
def test_a_url_password_is_never_shown(before, value, after):
    line = f'{before} redis://robot:{value}@10.0.0.5:6379/0 {after}'
    assert value not in redact_text(line).replace(before, '').replace(after, '')
