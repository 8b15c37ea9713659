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
The benches' C programs (bench/csrc), built on first use into .cache/bench with gcc.

``talker`` (pre-serialized std_msgs/String at a paced rate, any size) and ``take_loop`` (the
reference receiver: rcl_wait + rcl_take_serialized_message) against the rcl of the installed
ROS wheels, as the kernel's native extension is; ``xadd`` (pipelined XADD with hiredis' C
library, ``libhiredis-dev``).
"""

import glob
import os
import pathlib
import subprocess
import sys
import sysconfig

ROOT = pathlib.Path(__file__).resolve().parent.parent
CSRC = ROOT / 'bench' / 'csrc'
OUT = ROOT / '.cache' / 'bench'


def _rcl_flags() -> list:
    prefix = sys.prefix
    include = os.path.join(prefix, 'include')
    lib = os.path.join(prefix, 'lib')
    site = sysconfig.get_paths()['purelib']
    rpath = [lib] + sorted(glob.glob(os.path.join(site, 'ros_*.libs')))
    python = f'python{sys.version_info.major}.{sys.version_info.minor}'
    return ([f'-I{d}' for d in sorted(glob.glob(os.path.join(include, '*'))) if os.path.isdir(d)]
            + [f'-L{lib}', f'-L{sysconfig.get_config_var("LIBDIR")}',
               '-Wl,--no-as-needed', '-lrcl', '-lrmw', '-lrcutils', '-lrosidl_runtime_c',
               '-lstd_msgs__rosidl_typesupport_c', '-lstd_msgs__rosidl_generator_c',
               # the wheels' librcl pulls in *_rosidl_generator_py libraries, which
               # reference CPython's symbols
               f'-l{python}', '-Wl,--disable-new-dtags']
            + [f'-Wl,-rpath,{d}' for d in rpath + [sysconfig.get_config_var('LIBDIR')]])


def build(name: str) -> str:
    """Return the path of C program ``name``, compiled if its source is newer."""
    OUT.mkdir(parents=True, exist_ok=True)
    source = CSRC / f'{name}.c'
    binary = OUT / name
    sources = [source, *CSRC.glob('*.h')]
    if binary.exists() and all(binary.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return str(binary)
    flags = ['-lhiredis'] if name == 'xadd' else _rcl_flags()
    subprocess.run(['gcc', '-O2', '-std=gnu11', '-o', str(binary), str(source), *flags],
                   check=True)
    return str(binary)
