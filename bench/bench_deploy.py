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
The image and the robot's pod under podman (as root): what a deployment waits for.

- build: the image from a copy of this checkout's tracked files on the local Debian base,
  ``cold`` (an empty podman store: Debian packages, the PyPI wheels and the npm packages
  downloaded, everything compiled) unless ``--skip-cold``, ``warm`` after a change to one
  source file (the package layer rebuilt, the dependencies' layers reused) and ``unchanged``
  (every layer reused); the image's size.
- pod: ``podman kube play`` of deploy/kubernetes/robot to the kernel's first ``/diagnostics``
  report saying it is active with its mirror writing (seen from the host over DDS); then the
  kernel container's first process killed (SIGKILL): until podman has restarted it, and until
  the kernel reports itself active again; the container's memory once it runs.
Results: bench/results/deploy.json; docs/deploy.md has the figures.
"""

import argparse
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'test'))

from _results import write_results  # noqa: E402
import podman_support  # noqa: E402
import support  # noqa: E402


def copy_checkout(into: pathlib.Path) -> pathlib.Path:
    """Copy this checkout's tracked files (as committed or edited) into ``into``."""
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True,
                           check=True).stdout.split(b'\0')
    into.mkdir(parents=True)
    archive = subprocess.run(['tar', '-C', str(ROOT), '--null', '-T', '-', '-cf', '-'],
                             input=b'\0'.join(f for f in files if f), capture_output=True,
                             check=True).stdout
    subprocess.run(['tar', '-C', str(into), '-xf', '-'], input=archive, check=True)
    return into


def builds(podman: 'podman_support.Podman', work: pathlib.Path, cold: bool) -> dict:
    checkout = copy_checkout(work / 'checkout')
    result = {}
    if cold:
        started = time.monotonic()
        podman_support.ensure_base_image(podman)
        result['base_image_s'] = round(time.monotonic() - started, 1)
        result['cold_s'] = round(podman_support.build_image(podman, checkout=checkout), 1)
    else:
        podman_support.ensure_base_image(podman)
        podman_support.build_image(podman, checkout=checkout)
    with open(checkout / 'src' / 'unity_kernel_core' / '__init__.py', 'a') as source:
        source.write(f'# bench_deploy {time.time()}\n')
    result['warm_source_change_s'] = round(
        podman_support.build_image(podman, checkout=checkout), 1)
    result['unchanged_s'] = round(podman_support.build_image(podman, checkout=checkout), 1)
    size = podman.run('image', 'inspect', '--format', '{{.Size}}',
                      podman_support.TEST_IMAGE).stdout.strip()
    result['image_mb'] = round(int(size) / 1e6)
    return result


def pod_rounds(podman: 'podman_support.Podman', work: pathlib.Path, rounds: int) -> dict:
    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy

    from unity_kernel_core.api.health import assess, entries_of
    env = support.ros_environment(work)
    os.environ.update(env)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(env['ROS_DOMAIN_ID']))
    probe = support.Probe(context)
    arrays = probe.collect('/diagnostics', DiagnosticArray)
    manifest = work / 'robot.yaml'
    manifest.write_text(podman_support.robot_pod_yaml(
        podman_support.TEST_IMAGE, podman_support.loopback_dds_env(env['ROS_DOMAIN_ID'])))

    def active_since(index: int, after_ns: int = 0) -> bool:
        """Return True once a report from ``index`` on, stamped after ``after_ns``, is active."""
        for array in arrays[index:]:
            stamp_ns = array.header.stamp.sec * 10**9 + array.header.stamp.nanosec
            if stamp_ns < after_ns:
                continue  # sent before the kill, delivered after it
            verdict = assess('unity_kernel', entries_of(array))
            if verdict is not None and verdict.reason.startswith('unity_kernel active; '
                                                                 'mirroring'):
                return True
        return False

    samples: dict = {'start_to_active_s': [], 'kill_to_restarted_s': [],
                     'kill_to_active_s': [], 'memory_mb': []}
    try:
        for _ in range(rounds):
            pod = podman_support.RobotPod(podman, manifest)
            try:
                seen = len(arrays)
                started = time.monotonic()
                pod.play()
                support.wait_for(lambda: active_since(seen), 300, interval=0.1,
                                 message='the kernel active')
                samples['start_to_active_s'].append(round(time.monotonic() - started, 1))
                time.sleep(10)
                usage = podman.run('stats', '--no-stream', '--format', '{{.MemUsage}}',
                                   podman_support.KERNEL_CONTAINER).stdout.split('/')[0]
                samples['memory_mb'].append(usage.strip())
                seen = len(arrays)
                killed_ns = time.time_ns()
                os.kill(pod.kernel_pid(), signal.SIGKILL)
                killed = time.monotonic()
                support.wait_for(lambda: pod.restarts() >= 1 and pod.kernel_pid() > 0, 120,
                                 interval=0.1, message='the container restarted')
                samples['kill_to_restarted_s'].append(round(time.monotonic() - killed, 1))
                support.wait_for(lambda: active_since(seen, killed_ns), 300, interval=0.1,
                                 message='the kernel active again')
                samples['kill_to_active_s'].append(round(time.monotonic() - killed, 1))
            finally:
                pod.down()
    finally:
        probe.close()
        context.try_shutdown()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--skip-cold', action='store_true',
                        help="use the deploy tests' podman store (~/.cache/unity_kernel/podman) "
                             'instead of an empty one: no cold build')
    parser.add_argument('--rounds', type=int, default=3, help='pod start/kill rounds')
    args = parser.parse_args()
    why = podman_support.missing()
    if why is not None:
        print(f'bench_deploy: skipped: {why}', file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix='uk-deploy-') as tmp:
        work = pathlib.Path(tmp)
        if args.skip_cold:
            with podman_support.locked_cache() as root:
                podman = podman_support.Podman(root)
                podman.clear()
                build = builds(podman, work, cold=False)
                pod = pod_rounds(podman, work, args.rounds)
                podman.clear()
        else:
            podman = podman_support.Podman(work / 'store')
            try:
                build = builds(podman, work, cold=True)
                pod = pod_rounds(podman, work, args.rounds)
            finally:
                podman.clear()
    out = write_results('deploy', {'build': build, 'pod': pod})
    print(f'build {build}\npod {pod}\n-> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
