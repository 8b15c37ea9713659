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
Config parsing is bounded and strict.

Alias bombs, deep nesting, FIFOs, duplicate keys, and numbers or names the schema would accept
but Redis, rclpy or the clock cannot take.
"""

import os
import time
import tracemalloc

import pytest

from unity_kernel_core.config.documents import MAX_DEPTH, MAX_NODES
from unity_kernel_core.config.kernel_config import load_config, parse_config
from unity_kernel_core.errors import ConfigError


def alias_bomb(levels: int) -> str:
    text = 'a0: &a0 [x, x, x, x, x, x, x, x, x]\n'
    for i in range(1, levels):
        text += f'a{i}: &a{i} [' + ', '.join([f'*a{i - 1}'] * 9) + ']\n'
    return text


def refused(text, source='kernel.yaml', environ=None):
    with pytest.raises(ConfigError) as info:
        parse_config(text, source, environ or {})
    assert len(info.value.issues) >= 1
    return info.value.issues


@pytest.mark.timeout(20)
@pytest.mark.parametrize('levels', [6, 9])
def test_yaml_alias_bomb_is_refused_quickly_and_in_little_memory(levels):
    tracemalloc.start()
    start = time.monotonic()
    try:
        issues = refused(alias_bomb(levels))
    finally:
        _size, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - start < 5
    assert peak < 64 * 1024 * 1024
    assert f'more than {MAX_NODES} values' in issues[0].message
    assert issues[0].line is not None


def test_a_small_alias_use_is_still_fine():
    config = parse_config('exclude: &ex [/rosout, /a/**]\nmodules:\n  enabled: []\n'
                          'redis: &r {batch_size: 7}\n', 'k.yaml', {})
    assert '/a/**' in config.exclude and config.redis.batch_size == 7


@pytest.mark.timeout(20)
@pytest.mark.parametrize('source', ['kernel.yaml', 'kernel.json'])
def test_deep_nesting_is_an_error_not_a_traceback(source):
    issues = refused('[' * 2000 + ']' * 2000, source)
    assert f'deeper than {MAX_DEPTH}' in issues[0].message


def test_a_recursive_alias_is_an_error():
    issues = refused('a: &a [*a]\n')
    assert 'recursive alias' in issues[0].message


@pytest.mark.timeout(20)
def test_a_fifo_as_config_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / 'kernel.yaml'
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        load_config(fifo, environ={})
    assert 'not a regular file' in str(info.value)


@pytest.mark.timeout(20)
def test_dev_zero_and_huge_files_are_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config('/dev/zero', environ={})
    assert 'not a regular file' in str(info.value)
    big = tmp_path / 'big.yaml'
    big.write_text('# ' + 'x' * (2 * 1024 * 1024) + '\n')
    with pytest.raises(ConfigError) as info:
        load_config(big, environ={})
    assert 'larger than the limit' in str(info.value)


def test_duplicate_keys_are_errors_naming_both_lines():
    issues = refused('redis:\n  batch_size: 5\nkernel: {}\nredis:\n  maxlen: 7\n')
    assert issues[0].line == 4
    assert 'duplicate key' in issues[0].message and 'line 1' in issues[0].message
    issues = refused('redis:\n  batch_size: 5\n  batch_size: 6\n')
    assert issues[0].line == 3 and 'line 2' in issues[0].message
    issues = refused('{"redis": {"batch_size": 5},\n "redis": {}}', 'kernel.json')
    assert issues[0].line == 2 and 'line 1' in issues[0].message


@pytest.mark.parametrize('text, path', [
    ('redis:\n  maxlen: 100000000000000000000000000000\n', 'redis.maxlen'),
    ('redis:\n  dead_letter_maxlen: 100000000000000000000000000000\n',
     'redis.dead_letter_maxlen'),
    ('topics:\n  - {pattern: /a, tier: HIGH, retention_max_age_s: .inf}\n',
     'topics[0].retention_max_age_s'),
    ('topics:\n  - {pattern: /a, tier: HIGH, retention_max_age_s: 1.0e+300}\n',
     'topics[0].retention_max_age_s'),
    ('topics:\n  - {pattern: /a, tier: HIGH, retention_maxlen: 1.0e+30}\n',
     'topics[0].retention_maxlen'),
    ('tiers:\n  NORMAL:\n    qos: {lifespan_ms: 1.0e+300}\n', 'tiers.NORMAL.qos.lifespan_ms'),
    ('tiers:\n  NORMAL:\n    qos: {deadline_ms: .nan}\n', 'tiers.NORMAL.qos.deadline_ms'),
    ('tiers:\n  CRITICAL:\n    block_timeout_ms: .inf\n', 'tiers.CRITICAL.block_timeout_ms'),
    ('tiers:\n  CRITICAL:\n    block_timeout_ms: 1.0e+20\n', 'tiers.CRITICAL.block_timeout_ms'),
    ('tiers:\n  NORMAL:\n    batch_window_ms: -1\n', 'tiers.NORMAL.batch_window_ms'),
    ('kernel:\n  critical_scheduling: {nice: 40}\n', 'kernel.critical_scheduling.nice'),
    ('kernel:\n  critical_scheduling: {policy: fifo}\n', 'kernel.critical_scheduling'),
    ('kernel:\n  critical_scheduling: {policy: idle, priority: 3}\n',
     'kernel.critical_scheduling.policy'),
    ('tiers:\n  NORMAL:\n    batch_window_ms: .nan\n', 'tiers.NORMAL.batch_window_ms'),
    ('redis:\n  flush_interval_ms: .nan\n', 'redis.flush_interval_ms'),
    ('redis:\n  journal_max_bytes: 1.0e+30\n', 'redis.journal_max_bytes'),
    ('kernel:\n  event_echo_topic: "/bad topic!"\n', 'kernel.event_echo_topic'),
    ('kernel:\n  event_echo_topic: /a//b\n', 'kernel.event_echo_topic'),
    ('kernel:\n  event_echo_topic: /a/1b\n', 'kernel.event_echo_topic'),
    ('kernel:\n  node_name: bad-name\n', 'kernel.node_name'),
    ('kernel:\n  state_dir: ""\n', 'kernel.state_dir'),
    ('redis:\n  url: garbage\n', 'redis.url'),
    ('redis:\n  url: "redis://:pw@host:notaport"\n', 'redis.url'),
])
def test_numbers_and_names_out_of_range_for_their_consumer_are_refused(text, path):
    issues = refused(text)
    assert issues[0].path == path, issues
    assert issues[0].line is not None


def test_a_password_in_a_bad_url_is_never_echoed():
    issues = refused('redis:\n  url: "redis://:hunter2@host:notaport"\n')
    assert 'hunter2' not in str(issues[0])


def test_bad_environment_values_are_blamed_on_the_variable():
    issues = refused('tiers:\n  CRITICAL:\n    workers: 2\n',
                     environ={'UNITY_KERNEL__TIERS__CRITICAL__WORKERS': 'abc'})
    assert issues[0].source == 'environment variable UNITY_KERNEL__TIERS__CRITICAL__WORKERS'
    issues = refused('', environ={'UNITY_REDIS_URL': 'garbage'})
    assert issues[0].source == 'environment variable UNITY_REDIS_URL'


@pytest.mark.parametrize('text', [
    'kernel:\n  state_dir: 2026-02-30\n',
    'kernel:\n  state_dir: ' + '1' * 5000 + '\n',
    '? [1]\n: 2\n',
    '!!python/object:os.system {}\n',
])
def test_scalars_yaml_cannot_build_are_errors_not_tracebacks(text):
    refused(text)


@pytest.mark.timeout(30)
def test_hot_reload_rejects_a_binary_file_with_a_message(tmp_path):
    import threading
    from unity_kernel_core.config.watch import ConfigWatcher
    path = tmp_path / 'kernel.yaml'
    path.write_text('redis: {enabled: false}\n')
    errors, changes = [], []
    seen = threading.Event()
    watcher = ConfigWatcher(path, changes.append,
                            lambda exc: (errors.append(exc), seen.set()), debounce_s=0.05)
    watcher.start()
    try:
        path.write_bytes(b'\xff\xfe\x00binary\x00' * 100)
        assert seen.wait(10)
    finally:
        watcher.stop()
    assert not changes
    assert 'not UTF-8' in str(errors[0])


@pytest.mark.parametrize('text', [
    'kernel: {robot_id: "r\\ud800"}\n',
    '"\\udc80": 1\n',
    'topics: [{pattern: "/a\\ud83d\\ude00", tier: HIGH}]\n',
])
def test_a_lone_surrogate_in_any_yaml_string_is_refused_with_its_line(text):
    r"""Regression: "\ud800" built a str no UTF-8 consumer (ROS, HTTP, Redis) could take."""
    issues = refused(text)
    assert issues[0].line == 1 and 'unpaired surrogate' in issues[0].message


def test_a_path_with_a_nul_in_a_config_file_is_an_issue_not_a_traceback(tmp_path):
    r"""Regression: a relative path holding "\0" raised a bare ValueError out of load_config."""
    path = tmp_path / 'kernel.yaml'
    path.write_text('modules: {search_paths: ["a\\0b"]}\n')
    with pytest.raises(ConfigError, match='modules.search_paths'):
        load_config(path, environ={})
    path.write_text('live: {token_file: "/run/a\\0b"}\n')
    with pytest.raises(ConfigError, match='live.token_file'):
        load_config(path, environ={})


def test_a_home_of_no_user_is_an_issue_not_a_traceback(tmp_path):
    """Regression: "~nosuchuser/..." made pathlib raise a bare RuntimeError out of load_config."""
    from unity_kernel_core.paths import ensure_private_dir, StateDirError
    path = tmp_path / 'kernel.yaml'
    path.write_text('modules: {search_paths: ["~nosuchuser_x/mods"]}\n')
    with pytest.raises(ConfigError, match=r'search_paths\[0\]: .*~nosuchuser_x names no user'):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match='names no user'):
        load_config('~nosuchuser_x/kernel.yaml', environ={})
    with pytest.raises(StateDirError, match='names no user'):
        ensure_private_dir('~nosuchuser_x/state')
