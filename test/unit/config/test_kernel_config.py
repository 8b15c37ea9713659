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

"""Config loading: defaults, the shipped file, env overrides, clear errors, hot reload."""

import json
import pathlib
import threading

import pytest
import support

from unity_kernel_core.bus.event_bus import OverflowPolicy
from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import load_config, parse_config
from unity_kernel_core.config.watch import ConfigWatcher
from unity_kernel_core.errors import ConfigError
from unity_kernel_core.paths import share_dir

SHIPPED = support.ROOT / 'config' / 'kernel.yaml'


def rule_for(config, topic):
    """Return the first topic rule matching ``topic``, or None when excluded or unmapped."""
    route = config.route(topic)
    return route.rule if route.intake else None


def test_shipped_config_is_valid_and_maps_the_default_tiers():
    config = load_config(SHIPPED, environ={})
    assert config.tier_for('/safety/estop') is Tier.CRITICAL
    assert config.tier_for('/sensors/camera/image_raw') is Tier.HIGH
    assert rule_for(config, '/chatter').tier is Tier.NORMAL
    for infra in ('/rosout', '/parameter_events', '/diagnostics', '/unity_kernel/events',
                  '/camera/transition_event', '/sensors/camera/transition_event'):
        assert rule_for(config, infra) is None
    assert config.tiers[Tier.CRITICAL].overflow is OverflowPolicy.BLOCK


def test_shipped_file_states_the_defaults_and_enables_the_example_modules():
    defaults = load_config(None, environ={})
    shipped = load_config(SHIPPED, environ={})
    assert shipped.model_dump(exclude={'modules'}) == defaults.model_dump(exclude={'modules'})
    assert defaults.modules.enabled == []
    assert shipped.modules.search_paths == [str((share_dir() / 'modules').resolve())]
    assert {'heartbeat', 'monitor'} <= set(shipped.modules.enabled)


def test_first_matching_rule_wins():
    config = parse_config('topics:\n  - {pattern: /a/**, tier: LOW}\n'
                          '  - {pattern: /a/b, tier: CRITICAL}\n')
    assert config.tier_for('/a/b') is Tier.LOW


def test_a_tier_in_the_file_overrides_only_the_keys_it_names():
    config = parse_config('tiers:\n  low:\n    workers: 3\n')
    assert config.tiers[Tier.LOW].workers == 3
    assert config.tiers[Tier.LOW].queue_size == 5000  # LOW's default, not the generic one
    assert config.tiers[Tier.LOW].policy().batch_window_s == 0.001  # LOW's default too


def test_json_config_is_accepted(tmp_path):
    path = tmp_path / 'kernel.json'
    path.write_text(json.dumps({'topics': [{'pattern': '/x/**', 'tier': 'low'}]}))
    assert load_config(path, environ={}).tier_for('/x/y') is Tier.LOW


def test_environment_overrides_nested_keys_and_redis_url():
    env = {'UNITY_KERNEL__KERNEL__DIAGNOSTICS_PERIOD_S': '2.5',
           'UNITY_KERNEL__TIERS__CRITICAL__WORKERS': '4',
           'UNITY_REDIS_URL': 'redis://127.0.0.1:6390/0'}
    config = parse_config('', 'k.yaml', env)
    assert config.kernel.diagnostics_period_s == 2.5
    assert config.tiers[Tier.CRITICAL].workers == 4
    assert config.redis.url == 'redis://127.0.0.1:6390/0'


def test_bad_environment_override_names_the_variable():
    with pytest.raises(ConfigError) as info:
        parse_config('', 'k.yaml', {'UNITY_KERNEL__KERNEL__DIAGNOSTICS_PERIOD_S': '-1'})
    assert 'environment variable UNITY_KERNEL__KERNEL__DIAGNOSTICS_PERIOD_S' in str(info.value)


MALFORMED = [
    # (text, line, key path, fragment of the message)
    ('kernel: [1, 2\n', 2, '', 'invalid YAML'),
    ('- a\n- b\n', 1, '', 'expected a mapping at the top level'),
    ('kernal: {}\n', 1, 'kernal', 'unknown key'),
    ('kernel:\n  nod_name: x\n', 2, 'kernel.nod_name', 'unknown key'),
    ('kernel:\n  node_name: 9lives\n', 2, 'kernel.node_name', 'not a valid ROS node name'),
    ('kernel:\n  diagnostics_period_s: 0\n', 2, 'kernel.diagnostics_period_s', 'greater than 0'),
    ('kernel:\n  discovery_period_s: soon\n', 2, 'kernel.discovery_period_s', 'valid number'),
    ('kernel:\n  event_echo_topic: events\n', 2, 'kernel.event_echo_topic', "start with '/'"),
    ('topics:\n  - {pattern: safety/**, tier: CRITICAL}\n', 2, 'topics[0].pattern',
     "must start with '/'"),
    ('topics:\n  - {pattern: /a, tier: URGENT}\n', 2, 'topics[0].tier', "unknown tier 'URGENT'"),
    ('topics:\n  - {pattern: /a}\n', 2, 'topics[0].tier', 'Field required'),
    ('topics:\n  - {tier: LOW}\n', 2, 'topics[0].pattern', 'Field required'),
    ('topics:\n  - {pattern: /a, tier: LOW, mirror: sometimes}\n', 2, 'topics[0].mirror',
     'valid boolean'),
    ('topics:\n  - {pattern: /a**, tier: LOW}\n', 2, 'topics[0].pattern', 'whole segment'),
    ('topics: /a\n', 1, 'topics', 'valid list'),
    ('tiers:\n  urgent: {workers: 1}\n', 1, 'tiers', "unknown tier 'urgent'"),
    ('tiers:\n  CRITICAL:\n    workers: 0\n', 3, 'tiers.CRITICAL.workers',
     'greater than or equal to 1'),
    ('tiers:\n  LOW:\n    overflow: explode\n', 3, 'tiers.LOW.overflow', "'block'"),
    ('tiers:\n  LOW:\n    workers: 4\n    queue_size: 2\n', 2, 'tiers.LOW',
     'queue_size (2) must be >= workers (4)'),
    ('tiers:\n  HIGH:\n    qos: {reliability: maybe}\n', 3, 'tiers.HIGH.qos.reliability',
     "'reliable' or 'best_effort'"),
    ('tiers:\n  HIGH:\n    qos: {depth: 0}\n', 3, 'tiers.HIGH.qos.depth',
     'greater than or equal to 1'),
    ('tiers: [1, 2]\n', 1, 'tiers', 'expected a mapping'),
    ('exclude: [rosout]\n', 1, 'exclude[0]', "must start with '/'"),
    ('redis:\n  batch_size: many\n', 2, 'redis.batch_size', 'valid integer'),
    ('redis:\n  stream_prefix: "a b"\n', 2, 'redis.stream_prefix', 'should match pattern'),
]


@pytest.mark.parametrize('text,line,path,fragment', MALFORMED)
def test_malformed_config_gives_file_line_key_and_expectation(tmp_path, text, line, path,
                                                              fragment):
    file = tmp_path / 'bad.yaml'
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    issue = info.value.issues[0]
    assert issue.source == str(file)
    assert issue.line == line
    assert issue.path == path
    assert fragment in issue.message
    assert f'{file}:{line}:' in str(info.value)


def test_every_problem_is_reported_not_just_the_first():
    with pytest.raises(ConfigError) as info:
        parse_config('kernel:\n  diagnostics_period_s: -1\n  discovery_period_s: -1\n'
                     'topics:\n  - {pattern: a, tier: b}\n', 'k.yaml')
    assert len(info.value.issues) == 4


@pytest.mark.parametrize('setup,fragment', [
    (lambda p: None, 'file not found'),
    (lambda p: p.mkdir(), 'is a directory'),
    (lambda p: p.write_bytes(b'\xff\xfe\x00bad'), 'not UTF-8'),
    (lambda p: p.write_text('{"kernel": '), 'invalid'),
])
def test_unreadable_files_are_reported(tmp_path, setup, fragment):
    path = tmp_path / 'k.yaml'
    setup(path)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path, environ={})


def test_invalid_json_reports_the_line(tmp_path):
    path = tmp_path / 'k.json'
    path.write_text('{\n  "kernel": {\n    "node_name": \n}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.issues[0].line == 4 and 'invalid JSON' in str(info.value)


def test_watcher_applies_valid_edits_and_rejects_invalid_ones(tmp_path):
    path = tmp_path / 'kernel.yaml'
    path.write_text('topics:\n  - {pattern: /a, tier: LOW}\n')
    changes, errors = [], []
    changed = threading.Event()
    failed = threading.Event()

    def on_change(config):
        changes.append(config)
        changed.set()

    def on_error(exc):
        errors.append(exc)
        failed.set()

    watcher = ConfigWatcher(pathlib.Path(path), on_change, on_error, debounce_s=0.05)
    watcher.start()
    try:
        path.write_text('topics:\n  - {pattern: /a, tier: CRITICAL}\n')
        assert changed.wait(10)
        assert changes[-1].tier_for('/a') is Tier.CRITICAL
        path.write_text('topics:\n  - {pattern: /a, tier: NOPE}\n')
        assert failed.wait(10)
        assert errors[-1].issues[0].line == 2
        changed.clear()
        # an editor's write-then-rename save is seen too
        tmp = tmp_path / '.kernel.yaml.swp'
        tmp.write_text('topics:\n  - {pattern: /a, tier: DEFERRED}\n')
        tmp.replace(path)
        assert changed.wait(10)
        assert changes[-1].tier_for('/a') is Tier.DEFERRED
    finally:
        watcher.stop()


def test_tier_defaults_have_one_source_the_bus_policies():
    from unity_kernel_core.bus.event_bus import DEFAULT_POLICIES
    assert load_config(None, environ={}).policies() == dict(DEFAULT_POLICIES)


def test_a_topic_is_resolved_once_into_a_route_carrying_tier_qos_and_mirror_rule():
    config = parse_config('topics:\n'
                          '  - {pattern: /cam/**, tier: HIGH, mirror: false}\n'
                          '  - {pattern: /log/**, tier: LOW, retention_max_age_s: 60}\n'
                          '  - {pattern: /**, tier: NORMAL, retention_maxlen: 7}\n'
                          'redis: {maxlen: 99}\n')
    cam = config.route('/cam/image')
    assert (cam.tier, cam.intake, cam.mirror, cam.maxlen) == (Tier.HIGH, True, False, 99)
    assert cam.qos == config.tiers[Tier.HIGH].qos
    assert config.route('/cam/image') is cam  # resolved once, then carried
    assert config.route('/log/x').max_age_s == 60
    assert config.route('/other').maxlen == 7
    rosout = config.route('/rosout')  # excluded from intake, still audited when published
    assert (rosout.intake, rosout.mirror) == (False, True)
    assert rule_for(config, '/rosout') is None and config.tier_for('/cam/x') is Tier.HIGH
    changed = config.model_copy(update={'exclude': []})
    assert changed.route('/rosout').intake and not config.route('/rosout').intake


def test_a_config_given_as_a_package_url_is_found_in_that_package():
    """``config:=package://unity_kernel/config/kernel.yaml``, as ROS users write it."""
    from unity_kernel_core.config.kernel_config import load_config
    from unity_kernel_core.paths import share_dir
    config = load_config('package://unity_kernel/config/kernel.yaml')
    assert config == load_config(share_dir() / 'config' / 'kernel.yaml')
    with pytest.raises(ConfigError, match="package 'nope_pkg'"):
        load_config('package://nope_pkg/config/kernel.yaml')
