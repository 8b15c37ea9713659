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

"""The live view's pure logic and config, without a network or ROS."""

import os

import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import is_loopback, parse_config
from unity_kernel_core.errors import ConfigError, SecretError
from unity_kernel_core.live.delivery import (EventRing, PublishPolicy, Rates, ros_owned_parameter,
                                             ROS_OWNED_PARAMETERS, Throttle)
from unity_kernel_core.live.view import bind_refusal, read_token, string_preview, tls_files


def test_throttle_limits_each_matching_topic_to_its_rate_and_never_critical():
    throttle = Throttle([('/sensors/**', 10.0)])
    t, passed, critical, other = 0.0, 0, 0, 0
    for _ in range(300):  # 10 s at 30 Hz
        passed += throttle.allow('/sensors/cam/image_raw', Tier.HIGH, t)
        critical += throttle.allow('/sensors/cam/image_raw', Tier.CRITICAL, t)
        other += throttle.allow('/chatter', Tier.NORMAL, t)
        t += 1 / 30
    assert 95 <= passed <= 101
    assert critical == other == 300
    assert throttle.throttled == 300 - passed


def test_throttle_keeps_a_stream_at_its_limit_whole_despite_jitter():
    throttle = Throttle([('/a', 30.0)])
    t, passed = 0.0, 0
    for i in range(300):
        jitter = 0.004 if i % 2 else -0.004
        passed += throttle.allow('/a', Tier.HIGH, t + jitter)
        t += 1 / 30
    assert passed >= 290


def test_throttle_topics_have_their_own_budgets():
    throttle = Throttle([('/**', 1.0)])
    assert throttle.allow('/a', Tier.LOW, 0.0) and throttle.allow('/b', Tier.LOW, 0.0)
    assert not throttle.allow('/a', Tier.LOW, 0.5)
    assert throttle.allow('/a', Tier.LOW, 1.0)


def test_client_publishing_is_off_by_default_allow_listed_and_never_safety_unless_said():
    assert 'off' in PublishPolicy(False, ['/**'], False).check('/cmd_vel')
    policy = PublishPolicy(True, ['/cmd/**', '/safety/**'], False)
    assert policy.check('/cmd/vel') is None
    assert 'not in live.publish_allow' in policy.check('/other')
    assert 'safety' in policy.check('/safety/estop')
    assert PublishPolicy(True, ['/safety/**'], True).check('/safety/estop') is None


def test_ros_owned_parameters_are_the_ones_rclpy_declares_on_every_node():
    from rclpy.time_source import USE_SIM_TIME_NAME
    from rclpy.type_description_service import START_TYPE_DESCRIPTION_SERVICE_PARAM
    assert set(ROS_OWNED_PARAMETERS) == {USE_SIM_TIME_NAME, START_TYPE_DESCRIPTION_SERVICE_PARAM}
    assert ros_owned_parameter('use_sim_time')
    assert ros_owned_parameter('qos_overrides./diagnostics.publisher.depth')
    assert not ros_owned_parameter('discovery_period_s')
    assert not ros_owned_parameter('use_sim_time_extra')


def test_event_ring_keeps_the_newest_and_filters_by_pattern():
    ring = EventRing(3)
    for i, topic in enumerate(['/a/x', '/b/y', '/a/z', '/a/w']):
        ring.add({'seq': i, 'topic': topic})
    assert [e['seq'] for e in ring.matching(None, 10)] == [1, 2, 3]
    assert [e['topic'] for e in ring.matching('/a/**', 10)] == ['/a/z', '/a/w']
    assert [e['seq'] for e in ring.matching(None, 1)] == [3]


def test_rates_from_counter_readings():
    rates = Rates()
    assert rates.update('k', 100, 10.0) == 0.0
    assert rates.update('k', 150, 12.0) == 25.0


def test_string_preview_reads_cdr_strings_and_cuts_long_ones():
    assert string_preview(bytes(serialize_message(String(data='hello')))) == 'hello'
    long = string_preview(bytes(serialize_message(String(data='x' * 1000))))
    assert long.endswith('...') and len(long) < 300
    assert string_preview(b'\x00') is None


def test_live_config_defaults_and_bounds():
    live = parse_config('').live
    assert (live.enabled, live.foxglove_host, live.foxglove_port, live.dashboard_port) == \
        (True, '127.0.0.1', 8765, 8766)
    assert not live.client_publish and not live.publish_allow_safety
    for bad, expected in [
            ('live: {foxglove_port: 70000}', 'less than or equal to 65535'),
            ('live: {client_backlog: 1}', 'greater than or equal to 4'),
            ('live: {state_period_s: 0}', 'greater than or equal to 0.05'),
            ('live: {dashboard_host: "not a host!"}', 'neither an IP address nor a host'),
            ('live: {tls_cert_file: /c.pem}', 'go together'),
            ('live: {foxglove_port: 9000, dashboard_port: 9000}', 'both 9000'),
            ('live: {throttle: [{pattern: /a, max_hz: 0}]}', 'greater than 0'),
            ('live: {publish_allow: ["/a/**b"]}', "'**' must be a whole segment"),
            ('live: {camera_topic: cam}', "must start with '/'"),
            ('live: {token: abc}', 'live.token: unknown key'),
            ('live: {allowed_hosts: ["a b"]}', 'neither an IP address nor a host'),
            ('live: {allowed_origins: [app.foxglove.dev]}', 'is not an origin'),
            ('live: {allowed_origins: ["https://x/path"]}', 'is not an origin')]:
        with pytest.raises(ConfigError) as info:
            parse_config(bad, 'k.yaml')
        assert expected in str(info.value), (bad, str(info.value))
    assert parse_config('live: {dashboard_host: 0.0.0.0}').live.dashboard_host == '0.0.0.0'
    # off loopback, both servers start only with a token (checked when the live view starts)
    assert parse_config('live: {foxglove_host: 0.0.0.0}').live.foxglove_host == '0.0.0.0'
    assert 'no token is configured' in bind_refusal('0.0.0.0', None, 'UNITY_LIVE_TOKEN')
    assert bind_refusal('0.0.0.0', 's3cret', 'UNITY_LIVE_TOKEN') is None
    assert bind_refusal('::1', None, 'UNITY_LIVE_TOKEN') is None
    assert parse_config('live: {foxglove: false, foxglove_host: 10.0.0.1}').live.foxglove is False


def test_loopback_names():
    assert all(is_loopback(h) for h in ('127.0.0.1', '127.9.9.9', '::1', 'localhost'))
    assert not any(is_loopback(h) for h in ('0.0.0.0', '10.0.0.1', 'robot.local', '::'))


def test_token_comes_from_the_environment_or_a_file(tmp_path):
    settings = parse_config('').live
    assert read_token(settings, {}) is None
    assert read_token(settings, {'UNITY_LIVE_TOKEN': ' abc \n'}) == 'abc'
    token_file = tmp_path / 'token'
    token_file.write_text('from-file\n')
    with_file = parse_config(f'live: {{token_file: {token_file}}}').live
    assert read_token(with_file, {}) == 'from-file'
    with pytest.raises(SecretError, match='token_file'):
        read_token(parse_config(f'live: {{token_file: {tmp_path / "none"}}}').live, {})
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)  # refused at once, not read (a read would block until a writer came)
    with pytest.raises(SecretError, match='token_file: cannot read it: .*not a regular file'):
        read_token(parse_config(f'live: {{token_file: {fifo}}}').live, {})


def test_tls_files_must_be_regular_files_and_a_fifo_is_refused_at_once(tmp_path):
    cert, key, fifo = tmp_path / 'cert.pem', tmp_path / 'key.pem', tmp_path / 'fifo'
    cert.write_text('-----BEGIN CERTIFICATE-----\n')
    key.write_text('-----BEGIN PRIVATE KEY-----\n')
    os.mkfifo(fifo)
    assert tls_files(parse_config('').live) is None
    both = parse_config(f'live: {{tls_cert_file: {cert}, tls_key_file: {key}}}').live
    assert tls_files(both) == (str(cert), str(key))
    with pytest.raises(SecretError, match='live.tls_key_file: cannot read it: .*not a regular'):
        tls_files(parse_config(f'live: {{tls_cert_file: {cert}, tls_key_file: {fifo}}}').live)
    with pytest.raises(SecretError, match='live.tls_cert_file: cannot read it: .*not found'):
        tls_files(parse_config(f'live: {{tls_cert_file: {tmp_path / "no.pem"}, '
                               f'tls_key_file: {key}}}').live)


def test_an_encrypted_tls_key_is_refused_before_ssl_asks_for_its_passphrase(tmp_path):
    """Regression: ssl prompted "Enter PEM pass phrase:" on the terminal and waited."""
    cert, key = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    cert.write_text('-----BEGIN CERTIFICATE-----\n')
    for header in ('-----BEGIN ENCRYPTED PRIVATE KEY-----\n',
                   '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n'):
        key.write_text(header)
        live = parse_config(f'live: {{tls_cert_file: {cert}, tls_key_file: {key}}}').live
        with pytest.raises(SecretError, match='live.tls_key_file .* encrypted private key'):
            tls_files(live)
