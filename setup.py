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

"""ament_python build of the unity_kernel ROS 2 package."""

from glob import glob
import os
import subprocess

from setuptools import find_packages, setup
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
    cmdclass={'build_py': BuildWithWeb},
    zip_safe=False,
    maintainer='UnityKernel maintainers',
    maintainer_email='maintainers@unitykernel.dev',
    description='Deterministic ROS 2 runtime: priority event bus, Redis audit trail, '
                'module supervision, sensors and an LLM bridge.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'kernel = unity_kernel_core.kernel.node:main',
            'unity-kernel = unity_kernel_core.cli.main:main',
            'camera = unity_sensors.camera.node:main',
            'haptic = unity_sensors.haptic.node:main',
            'audio = unity_sensors.audio.node:main',
            'llm_bridge = unity_llm_bridge.node:main',
        ],
    },
)
