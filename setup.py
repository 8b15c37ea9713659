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
ament_python build of the unity_kernel ROS 2 package, with its native data path.

The native extensions (``unity_kernel_core.native``, docs/performance.md) are built by this
build (``make run``/``pip install -e .``, ``colcon build``): ``_core`` (ring producer, hand-off,
RESP packing; needs only the Python headers) and ``_rcl`` (the DDS intake threads; built
against the rcl/rmw/rcutils headers and libraries of the installed ROS: the PyPI wheels'
``<prefix>/include/<pkg>/`` and ``<prefix>/lib``, or a ROS install on ``AMENT_PREFIX_PATH``).
A machine without a compiler (or without the ROS headers) still installs: the extension that
cannot be built is left out with a warning and the kernel runs its pure-Python path.
``UNITY_KERNEL_NATIVE=0`` skips them; ``UNITY_KERNEL_NATIVE_SANITIZE=address`` builds them
with AddressSanitizer (``make test-asan``).
"""

from glob import glob
import os
import subprocess
import sys
import sysconfig

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

PACKAGE = 'unity_kernel'
SHARE = os.path.join('share', PACKAGE)
HERE = os.path.dirname(os.path.abspath(__file__))
WEB_OUT = os.path.join(HERE, 'src', 'unity_kernel_core', 'live', 'static', 'app', 'flow.js')


class BuildWithWeb(build_py):
    """Build the dashboard's flow editor (``scripts/build-web.sh``) when it is not built."""

    def run(self) -> None:
        """Bundle ``web/`` into the package's ``live/static/app`` first (colcon build)."""
        script = os.path.join(HERE, 'scripts', 'build-web.sh')
        if os.path.isfile(script) and not os.path.isfile(WEB_OUT):
            subprocess.run(['bash', script], check=True)
        super().run()


def tree(src: str, dest: str) -> list:
    """Map every file below ``src`` to a data_files entry below ``dest``."""
    entries = []
    for root, _dirs, files in os.walk(src):
        if '__pycache__' in root:
            continue
        paths = [os.path.join(root, f) for f in sorted(files) if not f.endswith('.pyc')]
        if paths:
            entries.append((os.path.join(dest, os.path.relpath(root, src)), paths))
    return entries


CSRC = os.path.join('src', 'unity_kernel_core', 'native', 'csrc')
C_FLAGS = ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter',
           '-Wno-missing-field-initializers', '-fvisibility=hidden']


def ros_prefix() -> str:
    """Return the prefix whose include/rcl/rcl/rcl.h exists (AMENT_PREFIX_PATH, this Python)."""
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    for prefix in prefixes + [sys.prefix]:
        if os.path.isfile(os.path.join(prefix, 'include', 'rcl', 'rcl', 'rcl.h')):
            return prefix
    return ''


def sanitize_flags() -> list:
    """Return the sanitizer flags asked for by UNITY_KERNEL_NATIVE_SANITIZE (address only)."""
    wanted = os.environ.get('UNITY_KERNEL_NATIVE_SANITIZE', '')
    if wanted == 'address':
        return ['-fsanitize=address', '-fno-omit-frame-pointer', '-g']
    return []


def native_extensions() -> list:
    """Return the native extensions this machine can try to build."""
    if os.environ.get('UNITY_KERNEL_NATIVE', '1') == '0':
        return []
    asan = sanitize_flags()
    core = Extension('unity_kernel_core.native._core',
                     sources=[os.path.join(CSRC, 'core.c'), os.path.join(CSRC, 'packer.c')],
                     include_dirs=[CSRC], extra_compile_args=C_FLAGS + asan,
                     extra_link_args=asan, depends=glob(os.path.join(CSRC, '*.h')))
    prefix = ros_prefix()
    if not prefix:
        print('unity_kernel: no rcl headers found (include/rcl/rcl/rcl.h under '
              "AMENT_PREFIX_PATH or this Python's prefix): the native intake is not built",
              file=sys.stderr)
        return [core]
    include = os.path.join(prefix, 'include')
    lib = os.path.join(prefix, 'lib')
    # the wheels keep their private libraries beside site-packages (ros_*.libs); a ROS
    # install has everything in <prefix>/lib
    site = sysconfig.get_paths()['purelib']
    rpath = [lib] + sorted(glob(os.path.join(site, 'ros_*.libs')))
    rcl = Extension('unity_kernel_core.native._rcl',
                    sources=[os.path.join(CSRC, 'rcl_intake.c')],
                    include_dirs=[CSRC] + sorted(d for d in glob(os.path.join(include, '*'))
                                                 if os.path.isdir(d)),
                    library_dirs=[lib], libraries=['rcl', 'rmw', 'rcutils'],
                    runtime_library_dirs=rpath, extra_compile_args=C_FLAGS + asan,
                    extra_link_args=['-Wl,--disable-new-dtags'] + asan,
                    depends=glob(os.path.join(CSRC, '*.h')))
    return [core, rcl]


class OptionalBuildExt(build_ext):
    """Build each native extension if this machine can; say so and go on when it cannot."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all: the pure-Python path runs
            print(f'unity_kernel: native extensions not built ({exc}): the kernel runs its '
                  'pure-Python path', file=sys.stderr)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # a missing header or library: this one is left out
            print(f'unity_kernel: {ext.name} not built ({exc}): the kernel runs its '
                  'pure-Python path there', file=sys.stderr)


setup(
    name=PACKAGE,
    version='0.1.0',
    package_dir={'': 'src'},
    packages=find_packages('src'),
    package_data={
        'unity_kernel_core': ['py.typed', 'live/static/*', 'live/static/app/*'],
        'unity_sensors': ['py.typed'],
        'unity_llm_bridge': ['py.typed'],
    },
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        (SHARE, ['package.xml']),
        (os.path.join(SHARE, 'launch'), glob('launch/*.launch.py')),
        (os.path.join(SHARE, 'config'),
         glob('config/*.yaml') + glob('config/*.xml') + glob('config/*.rviz')
         + glob('config/*.json')),
    ] + tree('modules', os.path.join(SHARE, 'modules')),
    install_requires=['setuptools'],
    ext_modules=native_extensions(),
    cmdclass={'build_py': BuildWithWeb, 'build_ext': OptionalBuildExt},
    zip_safe=False,
    maintainer='UnityKernel maintainers',
    maintainer_email='maintainers@unitykernel.dev',
    description='Deterministic ROS 2 runtime: priority event bus, Redis audit trail, '
                'module supervision, sensors and an LLM bridge.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            # nodes enter through ros.startup: a signal while they import is a clean exit
            'kernel = unity_kernel_core.ros.startup:kernel',
            'unity-kernel = unity_kernel_core.cli.main:main',
            'camera = unity_sensors.entry:camera',
            'haptic = unity_sensors.entry:haptic',
            'audio = unity_sensors.entry:audio',
            'llm_bridge = unity_llm_bridge.entry:llm_bridge',
        ],
    },
)
