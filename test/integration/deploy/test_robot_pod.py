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
The image and the robot's manifests under a real engine (podman).

Podman builds the image from this checkout and runs deploy/kubernetes/robot with
``podman kube play``; the host sees the kernel over DDS and its audit trail in the pod's
Redis, through a crash of the kernel's container and its restart.
"""

import os
import signal
import time

from diagnostic_msgs.msg import DiagnosticArray
import podman_support
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
import redis
from std_msgs.msg import String
import support

from unity_kernel_core.api.health import assess, entries_of

# building the image from nothing (debootstrap, Debian packages, the ROS wheels) takes
# minutes on this machine's 2 cores; a warm build (the image kept in the podman cache) well
# under one (docs/deploy.md)
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

MARKER_TOPIC = '/deploy_test/marker'
MARKER_STREAM = f'unity:topic:{MARKER_TOPIC}'


@pytest.fixture(scope='module')
def podman():
    """Give a podman on a store of our own (images cached between runs), cleared after."""
    why = podman_support.missing()
    if why is not None:
        pytest.skip(why)
    with podman_support.locked_cache() as root:
        engine = podman_support.Podman(root)
        engine.clear()
        yield engine
        engine.clear()


@pytest.fixture(scope='module')
def image(podman, tmp_path_factory):
    """Build the image from this checkout, as `make image` does (on the local Debian base)."""
    podman_support.ensure_base_image(podman)
    podman_support.build_image(podman, log=tmp_path_factory.mktemp('build') / 'build.log')
    return podman_support.TEST_IMAGE


def test_the_image_runs_as_a_user_with_no_build_tools(podman, image):
    config = podman.inspect(image)['Config']
    assert config['User'] == '10001:10001'
    assert config['Entrypoint'] == ['unity-kernel']
    assert config['Cmd'] == ['up', '--config', '/etc/unity_kernel/kernel.yaml']
    env = dict(e.split('=', 1) for e in config['Env'])
    assert env['FASTDDS_BUILTIN_TRANSPORTS'] == 'UDPv4'
    probe = podman.run('run', '--rm', '--network', 'none', '--entrypoint', 'sh', image, '-c',
                       'id -u; for t in gcc cc make pip python3-config; do command -v $t; done;'
                       ' unity-kernel check-config /etc/unity_kernel/kernel.yaml',
                       check=False)
    lines = probe.stdout.splitlines()
    assert lines[0] == '10001'
    assert lines[1].startswith('/etc/unity_kernel/kernel.yaml: OK'), probe.stdout + probe.stderr
    assert len(lines) == 2, f'build tools in the image: {lines[1:]}'


def verdicts(arrays, since, after_ns=0):
    """Return the verdicts on the kernel in ``arrays[since:]`` stamped after ``after_ns``."""
    found = []
    for array in arrays[since:]:
        if array.header.stamp.sec * 10**9 + array.header.stamp.nanosec < after_ns:
            continue  # sent before the kill, delivered after it
        verdict = assess('unity_kernel', entries_of(array))
        if verdict is not None:
            found.append(verdict)
    return found


def reports_active(arrays, since, after_ns=0):
    """Return True when a report in ``arrays[since:]`` says: active, the mirror writing."""
    return any(v.reason.startswith('unity_kernel active; mirroring')
               for v in verdicts(arrays, since, after_ns))


def markers_in(client):
    """Return the stream's entries as (entry id, marker text)."""
    return [(entry_id.decode(), deserialize_message(fields[b'cdr'], String).data)
            for entry_id, fields in client.xrange(MARKER_STREAM)]


def publish_until_stored(publisher, client, prefix, count, timeout):
    """Publish markers ``prefix-N`` until ``count`` of them are in the pod's Redis."""
    sent = 0
    deadline = time.monotonic() + timeout
    while True:
        stored = [m for _, m in markers_in(client) if m.startswith(prefix)]
        if len(stored) >= count:
            return stored
        if time.monotonic() > deadline:
            raise AssertionError(f'{len(stored)} of {count} {prefix} markers reached Redis '
                                 f'within {timeout}s')
        publisher.publish(String(data=f'{prefix}-{sent}'))
        sent += 1
        time.sleep(0.1)


def test_the_robot_pod_runs_survives_a_kill_and_tears_down(
        podman, image, probe, ros_env, tmp_path):
    manifest = tmp_path / 'robot.yaml'
    manifest.write_text(podman_support.robot_pod_yaml(
        image, podman_support.loopback_dds_env(ros_env['ROS_DOMAIN_ID'])))
    pod = podman_support.RobotPod(podman, manifest)
    arrays = probe.collect('/diagnostics', DiagnosticArray)
    publisher = probe.node.create_publisher(
        String, MARKER_TOPIC, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    try:
        pod.play()
        # the kernel, seen from the host over DDS: active, its mirror writing, the camera's
        # topics mapped
        support.wait_for(lambda: verdicts(arrays, 0), 180,
                         message='/diagnostics from the kernel in the pod')
        support.wait_for(lambda: reports_active(arrays, 0), 120,
                         message='the kernel active with its mirror writing')
        health = pod.healthcheck()  # the liveness probe, as podman made it
        assert health.returncode == 0, health.stdout + health.stderr + pod.describe()
        client = redis.Redis(unix_socket_path=str(pod.redis_socket()), socket_timeout=5)
        support.wait_for(lambda: client.xlen('unity:topic:/sensors/camera/camera_info'), 60,
                         message="the camera's events in the pod's Redis")
        before = publish_until_stored(publisher, client, 'before', 5, 60)
        entries_before = markers_in(client)
        client.close()

        # a crash of the kernel's container: its first process killed from the host
        killed_ns = time.time_ns()
        os.kill(pod.kernel_pid(), signal.SIGKILL)
        support.wait_for(lambda: pod.restarts() >= 1 and pod.kernel_pid() > 0, 60,
                         message='podman restarting the kernel container (restartPolicy)')
        seen = len(arrays)
        support.wait_for(lambda: reports_active(arrays, seen, killed_ns), 180,
                         message='the restarted kernel active again')

        # the trail: every entry from before the kill is still there, with its ID, and the
        # restarted kernel appends after them
        client = redis.Redis(unix_socket_path=str(pod.redis_socket()), socket_timeout=5)
        after = publish_until_stored(publisher, client, 'after', 5, 90)
        entries = markers_in(client)
        client.close()
        assert entries[:len(entries_before)] == entries_before
        assert set(before) <= {m for _, m in entries_before}
        assert [m for _, m in entries if m.startswith('after')] == after
        texts = [m for _, m in entries]
        assert len(texts) == len(set(texts)), 'an event was written twice'
        ids = [tuple(int(part) for part in entry_id.split('-')) for entry_id, _ in entries]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert pod.restarts() == 1, pod.describe()
        health = pod.healthcheck()
        assert health.returncode == 0, health.stdout + health.stderr + pod.describe()
    finally:
        pod.down()
    assert podman.leftovers() == []
