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

"""The providers' keys: read when the bridge connects them, a missing one named, never shown."""

import json

import pytest

from unity_kernel_core.errors import SecretError
from unity_llm_bridge.bridge import Bridge
from unity_llm_bridge.config import parse_bridge_config
from unity_llm_bridge.providers import make_provider
from unity_llm_bridge.providers.base import read_api_key


def config(**model):
    settings = {'api': 'openai', 'base_url': 'http://127.0.0.1:9/v1', 'model': 'm', **model}
    return parse_bridge_config(json.dumps({
        'models': {'m': settings},
        'routes': [{'name': 'r', 'match': ['/**'], 'models': ['m']}]}), 'test.json')


def test_missing_api_key_fails_connect_with_the_variable_name(monkeypatch):
    monkeypatch.delenv('NOT_SET_KEY', raising=False)
    loaded = config(api_key_env='NOT_SET_KEY')
    bridge = Bridge(loaded, {n: make_provider(n, s) for n, s in loaded.models.items()},
                    output=None)
    with pytest.raises(SecretError, match='NOT_SET_KEY'):
        bridge.start()
    bridge.stop()


def test_the_key_comes_from_its_variable_or_the_first_line_of_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv('TEST_LLM_KEY', ' sk-env ')
    assert read_api_key('m', config(api_key_env='TEST_LLM_KEY').models['m']) == 'sk-env'
    key = tmp_path / 'key'
    key.write_text('sk-file\n')
    assert read_api_key('m', config(api_key_file=str(key)).models['m']) == 'sk-file'
    assert read_api_key('m', config().models['m']) is None
    key.write_text('\n')
    with pytest.raises(SecretError, match='models.m.api_key_file .*empty') as info:
        read_api_key('m', config(api_key_file=str(key)).models['m'])
    assert 'sk-' not in str(info.value)
