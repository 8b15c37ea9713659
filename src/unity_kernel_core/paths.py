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

"""Where the package's installed files are: the ament share directory, or the source tree."""

import os
import pathlib
import sys
from typing import Optional

PACKAGE = 'unity_kernel'


def default_ament_prefix_path() -> None:
    """
    Set ``AMENT_PREFIX_PATH`` to this interpreter's prefix when it is unset there.

    The ROS 2 wheels install their ament index (message packages, ``.msg`` files) under the
    environment's prefix, so ``.venv/bin/unity-kernel`` works without a sourced ROS setup.
    Called by the console scripts; child processes (modules) inherit it.
    """
    if not os.environ.get('AMENT_PREFIX_PATH') and \
            (pathlib.Path(sys.prefix) / 'share' / 'ament_index').is_dir():
        os.environ['AMENT_PREFIX_PATH'] = sys.prefix


def share_dir() -> pathlib.Path:
    """
    Return ``share/unity_kernel``: from the ament index, else the source checkout.

    An editable (``pip install -e``) install does not place data files, so a checkout that
    has ``package.xml`` two levels above this module serves as its own share directory.
    """
    try:
        from ament_index_python.packages import get_package_share_directory
        from ament_index_python.packages import PackageNotFoundError
        try:
            return pathlib.Path(get_package_share_directory(PACKAGE))
        except (PackageNotFoundError, LookupError, ValueError, OSError):
            pass  # not in the index (or no index at all): try the source checkout
    except ImportError:
        pass
    checkout = pathlib.Path(__file__).resolve().parents[2]
    if (checkout / 'package.xml').is_file():
        return checkout
    raise FileNotFoundError(
        f'cannot find the {PACKAGE} share directory: install the package '
        '(colcon build, or `make setup`) or set AMENT_PREFIX_PATH')


def default_config_path() -> Optional[pathlib.Path]:
    """Return the shipped ``config/kernel.yaml``."""
    return share_dir() / 'config' / 'kernel.yaml'
