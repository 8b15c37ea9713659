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

"""Shared test fixtures: per-test ROS domain, free ports, real redis-server, child processes."""

import logging
import os
import pathlib
import shutil
import sys

import pytest


class _LaunchLikeLogger(logging.getLoggerClass()):  # type: ignore[misc]
    """
    A logger as importing ``launch`` makes them: one that does not propagate.

    A ROS install's pytest plugins (launch_testing, launch_pytest) import ``launch``, whose
    ``launch.logging`` sets ``LaunchLogger`` (``propagate = False``) as the logger class, so
    every logger created afterwards, the package's included, hands its records to its own
    handlers only. The whole suite runs that way (set here, before any package module is
    imported), so a test that needs propagation (``caplog``) fails here as it would under
    ``colcon test``: capture with ``unity_log`` (a handler on each logger) instead.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.propagate = False


logging.setLoggerClass(_LaunchLikeLogger)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import support  # noqa: E402

from unity_kernel_core.common.images import bound_image_decoding  # noqa: E402

from unity_kernel_core.paths import default_ament_prefix_path  # noqa: E402

# as the console scripts do: the ROS wheels' ament index is under this interpreter's prefix
default_ament_prefix_path()
# as the package's processes do before anything imports cv2 (OpenCV reads it once then)
bound_image_decoding()


@pytest.fixture
def ros_env(tmp_path, monkeypatch):
    """Give this test its own ROS domain (and ROS_HOME), for itself and its child processes."""
    env = support.ros_environment(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield dict(os.environ)
    support.release_domain_id(int(env['ROS_DOMAIN_ID']))


@pytest.fixture
def rclpy_context(ros_env):
    """Provide an initialised rclpy context on the test's domain, shut down afterwards."""
    import rclpy
    from rclpy.context import Context
    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(ros_env['ROS_DOMAIN_ID']))
    yield ctx
    ctx.try_shutdown()


@pytest.fixture
def redis_server(tmp_path):
    """Run a private redis-server on loopback, a free port and a temp dir; stopped afterwards."""
    server = support.RedisServer(tmp_path / 'redis')
    server.start()
    yield server
    server.stop()


@pytest.fixture
def processes(ros_env):
    """
    Start child processes with ``processes.start(...)``; all are killed at teardown.

    It needs ``ros_env`` so that it is torn down first: the test's ROS domain is given back
    only once its processes are gone (a kernel still shutting down would otherwise answer,
    under the same node name, the next test that claims that domain).
    """
    group = support.ProcessGroup()
    yield group
    group.stop_all()


@pytest.fixture
def probe(rclpy_context):
    """Provide a spinning rclpy probe node in the test process."""
    p = support.Probe(rclpy_context)
    yield p
    p.close()


@pytest.fixture
def redis_cluster(tmp_path):
    """Run a real Redis Cluster (3 masters, 3 replicas) on loopback; stopped afterwards."""
    import cluster_support
    cluster = cluster_support.RedisClusterProcesses(tmp_path / 'cluster')
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def unity_log():
    """Catch the records of every ``unity_kernel`` logger, without relying on propagation."""
    capture = support.LogCapture().attach()
    yield capture
    capture.detach()


@pytest.fixture(scope='session')
def foxglove_js(tmp_path_factory):
    """Foxglove's npm libraries, installed from test/js/package-lock.json for this session."""
    if shutil.which('node') is None or shutil.which('npm') is None:
        pytest.skip('node/npm not installed')
    import js_support
    return js_support.FoxgloveJs(js_support.install(tmp_path_factory.mktemp('npm')))


@pytest.fixture(autouse=True)
def _no_stray_mirror_rings(tmp_path):
    """
    Remove the shared-memory rings of the kernels this test ran (state dirs in its tmp dir).

    A kernel killed with -9 leaves its ring in ``/dev/shm`` for the next start to recover;
    a test's state dir never starts again, so its ring would stay until reboot.
    """
    yield
    from unity_kernel_core.audit.writer_process import ring_path
    for folder in [tmp_path, *(p for p in tmp_path.rglob('*') if p.is_dir())]:
        ring = ring_path(folder)
        if ring.parent != folder:
            ring.unlink(missing_ok=True)


# Markers follow from what a test starts: a test that uses one of these fixtures gets the
# marker, so `-m "not ros and not redis"` selects only tests that start neither.
FIXTURE_MARKERS = {
    'ros_env': 'ros', 'rclpy_context': 'ros', 'probe': 'ros', 'processes': 'ros',
    'redis_server': 'redis', 'redis_cluster': 'redis',
}
UNIT = pathlib.Path(__file__).resolve().parent / 'unit'


def pytest_collection_modifyitems(config, items):
    """Mark each test from its fixtures; refuse a unit test that starts ROS or Redis."""
    for item in items:
        started = {FIXTURE_MARKERS[f] for f in getattr(item, 'fixturenames', ())
                   if f in FIXTURE_MARKERS}
        if started and UNIT in pathlib.Path(str(item.fspath)).parents:
            raise pytest.UsageError(
                f'{item.nodeid}: a unit test starts nothing ({", ".join(sorted(started))}); '
                'move it under test/integration/')
        for marker in sorted(started):
            item.add_marker(marker)
