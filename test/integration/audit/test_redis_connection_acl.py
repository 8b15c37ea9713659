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

"""Connecting to a real Redis as an ACL user, the password from the environment, not logged."""

import pytest
import redis

from unity_kernel_core.audit.redis_connection import connect
from unity_kernel_core.config.kernel_config import parse_config


def settings(text=''):
    return parse_config(f'redis: {{{text}}}\n').redis


@pytest.mark.redis
def test_acl_user_with_password_from_the_environment(redis_server, unity_log):
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser('mirror', enabled=True, passwords=['+t0ps3cret'], keys=['unity:*'],
                      commands=['+@all'])
    s = settings(f'url: "{redis_server.url}", username: mirror')
    client = connect(s, environ={'UNITY_REDIS_PASSWORD': 't0ps3cret'})
    assert client.ping()
    client.set('unity:x', '1')
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set('other', '1')
    wrong = connect(s, environ={'UNITY_REDIS_PASSWORD': 'wrong'})
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    assert 't0ps3cret' not in unity_log.text
