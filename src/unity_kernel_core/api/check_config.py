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

"""Validate a kernel config file and list every problem in it."""

import pathlib
from typing import List, Mapping, Optional, Tuple

from unity_kernel_core.common.credentials import redact_url
from unity_kernel_core.config.kernel_config import KernelConfig, load_config
from unity_kernel_core.errors import ConfigError, ConfigIssue
from unity_kernel_core.supervision import deployment


def check_config(path: Optional[pathlib.Path], environ: Optional[Mapping[str, str]] = None
                 ) -> Tuple[Optional[KernelConfig], List[ConfigIssue]]:
    """
    Return the config (None when invalid) and every problem found.

    Checked as the kernel's configure checks it: the schema, then the modules it deploys
    (every enabled module found, unless optional; overrides that fit the manifests).
    """
    try:
        config = load_config(path, environ)
        deployment.resolve(config)
    except ConfigError as exc:
        return None, exc.issues
    return config, []


NO_URL = ('no URL: `unity-kernel up` starts a private redis-server, `kernel` and '
          '`ros2 launch` run without the audit mirror')


def summary(config: KernelConfig) -> str:
    """
    Return a one-paragraph human summary of a valid config.

    Redis as each way of starting uses it; an optional module that is not found is named as
    such (the kernel starts without it).
    """
    rules = ', '.join(f'{r.pattern}->{r.tier.name}' for r in config.topics)
    if config.redis.url:
        redis = redact_url(config.redis.url)
    else:
        redis = NO_URL if config.redis.enabled else 'off (redis.enabled: false)'
    try:
        missing = set(deployment.resolve(config).missing_optional)
    except ConfigError:  # (not for a config check_config passed)
        missing = set()
    modules = ', '.join(f'{name} (optional, not found: not started)' if name in missing
                        else name for name in config.modules.enabled) or 'none'
    return (f'{len(config.topics)} topic rule(s): {rules}; '
            f'{len(config.exclude)} exclude pattern(s); redis: {redis}; modules: {modules}')
