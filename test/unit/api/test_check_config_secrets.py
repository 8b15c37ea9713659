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

"""``check-config``'s summary never shows the Redis password (it was printed in clear)."""

from unity_kernel_core.api.check_config import summary
from unity_kernel_core.config.kernel_config import parse_config


def test_the_summary_shows_the_redis_url_without_its_password():
    config = parse_config('redis: {url: "redis://robot:s3cret@10.0.0.5:6379/0"}\n')
    line = summary(config)
    assert 'redis: redis://robot:***@10.0.0.5:6379/0' in line
    assert 's3cret' not in line
