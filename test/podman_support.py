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
Podman for the deploy tests and benchmarks: a store of their own, the image, the robot pod.

Podman never touches the machine's own container store: its images and run state live under
``cache_dir()`` (kept between runs, so a second build is warm; every pod, container and
volume is removed after each run), named by a ``containers.conf`` and ``storage.conf`` of our
own (``CONTAINERS_CONF``, ``CONTAINERS_STORAGE_CONF``) with the two settings this kind of VM
needs: default ulimits root may set, and the ``runc`` runtime.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import time
from typing import Any, Dict, Iterator, List, Optional

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
ROBOT = ROOT / 'deploy' / 'kubernetes' / 'robot'
BASE_IMAGE = 'localhost/debian-base:bookworm'
TEST_IMAGE = 'localhost/unity-kernel:test'
#: The loopback-only Fast DDS profile inside the image (config/fastdds-loopback.xml).
LOOPBACK_PROFILE = '/opt/unity_kernel/share/unity_kernel/config/fastdds-loopback.xml'
POD = 'unity-kernel-pod-0'
KERNEL_CONTAINER = f'{POD}-kernel'
STATE_VOLUME = 'unity-kernel-state'
CONFIG_VOLUME = 'unity-kernel-config'
BUILD_TIMEOUT_S = 1500


def missing() -> Optional[str]:
    """Return why podman cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return 'the podman tests run as root (CI does); rootless podman needs subuid ranges'
    for tool in ('podman', 'debootstrap', 'runc', 'catatonit'):
        if shutil.which(tool) is None:
            return (f'{tool} is not installed (scripts/install-system-deps.sh test installs '
                    'podman, debootstrap, runc and catatonit)')
    return None


def cache_dir() -> pathlib.Path:
    """Return where the podman images of the deploy tests are kept between runs."""
    configured = os.environ.get('UNITY_PODMAN_CACHE')
    if configured:
        return pathlib.Path(configured)
    return pathlib.Path.home() / '.cache' / 'unity_kernel' / 'podman'


class Podman:
    """Run podman commands on a store of our own (bounded in time, output captured)."""

    def __init__(self, root: pathlib.Path) -> None:
        # images, run state and settings all under ``root``: podman's database remembers the
        # run and temp folders it was first used with and overrides later ones, so they
        # must stay the same from run to run (the store is used under locked_cache)
        self.root = root
        for folder in ('storage', 'run', 'tmp', 'networks'):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / 'containers.conf').write_text(
            '[containers]\n'
            "# root here lacks CAP_SYS_RESOURCE: podman's default limits fail every start\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            '[engine]\n'
            '# crun refuses the hybrid cgroup layout of this VM\n'
            'runtime = "runc"\n'
            f'tmp_dir = "{root / "tmp"}"\n'
            '[network]\n'
            f'network_config_dir = "{root / "networks"}"\n')
        (root / 'storage.conf').write_text(
            '[storage]\ndriver = "overlay"\n'
            f'runroot = "{root / "run"}"\ngraphroot = "{root / "storage"}"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=str(root / 'containers.conf'),
                        CONTAINERS_STORAGE_CONF=str(root / 'storage.conf'))

    def run(self, *args: str, timeout: float = 120, check: bool = True,
            stdin: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run ``podman ARGS``; raise AssertionError with its output when it fails."""
        result = subprocess.run(['podman', *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout, input=stdin)
        if check and result.returncode != 0:
            raise AssertionError(f'podman {" ".join(args)} exited {result.returncode}: '
                                 f'{result.stderr.strip()[-2000:]}')
        return result

    def has_image(self, tag: str) -> bool:
        """Return True when ``tag`` is in this store."""
        return self.run('image', 'exists', tag, check=False).returncode == 0

    def inspect(self, name: str) -> Dict[str, Any]:
        """Return ``podman inspect NAME`` (a container) as a dict."""
        return dict(json.loads(self.run('inspect', name).stdout)[0])

    def clear(self) -> None:
        """Remove every pod, container and volume of this store (a run killed midway)."""
        self.run('pod', 'rm', '--all', '--force', check=False, timeout=120)
        self.run('rm', '--all', '--force', check=False, timeout=120)
        self.run('volume', 'rm', '--all', '--force', check=False, timeout=60)

    def leftovers(self) -> List[str]:
        """Return the pods, containers and volumes left in this store."""
        found = []
        for what in (['pod', 'ps', '-q'], ['ps', '-aq'], ['volume', 'ls', '-q']):
            found += self.run(*what).stdout.split()
        return found

    def build_env(self) -> Dict[str, str]:
        """Return the environment deploy/*.sh need to use this store."""
        return dict(self.env)


@contextlib.contextmanager
def locked_cache() -> Iterator[pathlib.Path]:
    """Hold the cache's lock: one deploy test run (or benchmark) at a time uses the store."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / 'lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder


def ensure_base_image(podman: Podman) -> None:
    """Make the local Debian base image once (debootstrap; deploy/base-image.sh)."""
    if podman.has_image(BASE_IMAGE):
        return
    subprocess.run(['bash', str(ROOT / 'deploy' / 'base-image.sh'), BASE_IMAGE],
                   env=podman.build_env(), check=True, capture_output=True, timeout=600)


def build_image(podman: Podman, tag: str = TEST_IMAGE, log: Optional[pathlib.Path] = None,
                checkout: pathlib.Path = ROOT) -> float:
    """
    Build the image from a checkout as `make image` does; return the seconds it took.

    The image the tag named before is removed once the new one has the tag (each build would
    otherwise leave hundreds of MB behind); the build stage's layers stay, as the next
    build's cache.
    """
    env = dict(podman.build_env(), IMAGE=tag, BASE_IMAGE=BASE_IMAGE)
    before = podman.run('image', 'inspect', '--format', '{{.Id}}', tag, check=False)
    started = time.monotonic()
    result = subprocess.run(['bash', str(checkout / 'deploy' / 'build-image.sh')],
                            env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    elapsed = time.monotonic() - started
    if log is not None:
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise AssertionError(f'image build failed ({result.returncode}): '
                             f'{(result.stdout + result.stderr)[-3000:]}')
    old = before.stdout.strip() if before.returncode == 0 else ''
    if old and old != podman.run('image', 'inspect', '--format', '{{.Id}}', tag).stdout.strip():
        podman.run('rmi', old, check=False, timeout=120)
    return elapsed


def robot_manifests() -> List[Dict[str, Any]]:
    """
    Return the robot base's resources as kustomize builds them (deploy/kubernetes/robot).

    Its ConfigMap comes from the generator (``kernel.yaml``, no name hash); the Namespace is
    left out: podman has none.
    """
    kustomization = yaml.safe_load((ROBOT / 'kustomization.yaml').read_text())
    docs: List[Dict[str, Any]] = []
    for generator in kustomization.get('configMapGenerator', []):
        data = {name: (ROBOT / name).read_text() for name in generator['files']}
        docs.append({'apiVersion': 'v1', 'kind': 'ConfigMap',
                     'metadata': {'name': generator['name'],
                                  'namespace': generator['namespace']},
                     'data': data})
    for resource in kustomization['resources']:
        for doc in yaml.safe_load_all((ROBOT / resource).read_text()):
            if doc['kind'] != 'Namespace':
                docs.append(doc)
    return docs


def robot_pod_yaml(image: str, env: Dict[str, str]) -> str:
    """Return the robot's manifests for ``podman kube play``: this image, ``env`` added."""
    docs = robot_manifests()
    for doc in docs:
        if doc['kind'] == 'Deployment':
            container = doc['spec']['template']['spec']['containers'][0]
            container['image'] = image
            kept = [e for e in container.get('env', []) if e['name'] not in env]
            container['env'] = kept + [{'name': k, 'value': v} for k, v in env.items()]
    return yaml.safe_dump_all(docs, sort_keys=False)


def loopback_dds_env(domain_id: str) -> Dict[str, str]:
    """
    Return the pod's environment for DDS on loopback only, on the test's domain.

    The range is left to the profile: LOCALHOST would make rmw_fastrtps add shared memory,
    which does not cross container boundaries. Live view ports: any free one.
    """
    return {'ROS_DOMAIN_ID': domain_id,
            'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SYSTEM_DEFAULT',
            'FASTDDS_DEFAULT_PROFILES_FILE': LOOPBACK_PROFILE,
            'UNITY_KERNEL__LIVE__FOXGLOVE_PORT': '0',
            'UNITY_KERNEL__LIVE__DASHBOARD_PORT': '0'}


class RobotPod:
    """The robot's Deployment under ``podman kube play``; ``down`` removes it and its volumes."""

    def __init__(self, podman: Podman, manifest: pathlib.Path) -> None:
        self.podman = podman
        self.manifest = manifest

    def play(self) -> None:
        """Start the pod (returns once its containers are created and started)."""
        self.podman.run('kube', 'play', str(self.manifest), timeout=180)

    def down(self) -> None:
        """Stop and remove the pod, then the volumes `kube play --down` leaves (PVC, ConfigMap)."""
        self.podman.run('kube', 'play', '--down', str(self.manifest), check=False, timeout=120)
        self.podman.run('volume', 'rm', '--force', STATE_VOLUME, CONFIG_VOLUME, check=False)

    def kernel_pid(self) -> int:
        """Return the host PID of the kernel container's first process (0: not running)."""
        return int(self.podman.inspect(KERNEL_CONTAINER)['State']['Pid'])

    def restarts(self) -> int:
        """Return how often podman restarted the kernel container."""
        return int(self.podman.inspect(KERNEL_CONTAINER)['RestartCount'])

    def state_dir(self) -> pathlib.Path:
        """Return the state volume's folder on the host."""
        out = self.podman.run('volume', 'inspect', STATE_VOLUME).stdout
        return pathlib.Path(json.loads(out)[0]['Mountpoint'])

    def redis_socket(self) -> pathlib.Path:
        """Return the private Redis's unix socket, seen from the host."""
        return self.state_dir() / 'state' / 'redis' / 'redis.sock'

    def healthcheck(self) -> subprocess.CompletedProcess:
        """Run the kernel container's health check once (its liveness probe, as podman made it)."""
        return self.podman.run('healthcheck', 'run', KERNEL_CONTAINER, check=False, timeout=60)

    def describe(self) -> str:
        """Return the kernel container's state, restarts and last log lines (for failures)."""
        state = self.podman.inspect(KERNEL_CONTAINER)
        logs = self.podman.run('logs', '--tail', '40', KERNEL_CONTAINER, check=False)
        return (f'state {state["State"]["Status"]}, exit code {state["State"]["ExitCode"]}, '
                f'restarts {state["RestartCount"]}\n{logs.stdout}{logs.stderr}')
