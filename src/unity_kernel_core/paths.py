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
Where files are: the package's share directory, and paths written in config files.

A path in a config file may be ``package://<package>/<path>`` (a file of an installed ROS
package, found with the ament index, as ``camera_info_manager`` and rviz read it), absolute,
``~``-relative, or relative: relative to the folder of the file it is written in.
"""

import os
import pathlib
import sys
from typing import Optional

PACKAGE = 'unity_kernel'
PACKAGE_URL = 'package://'


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


def package_share_dir(package: str) -> pathlib.Path:
    """
    Return the share directory of a ROS package (this one: see :func:`share_dir`).

    Raise FileNotFoundError naming the package and where it was looked for.
    """
    if package == PACKAGE:
        return share_dir()
    try:
        from ament_index_python.packages import get_package_share_directory
        from ament_index_python.packages import PackageNotFoundError
    except ImportError:
        raise FileNotFoundError(f'package {package!r}: ament_index_python is not installed') \
            from None
    try:
        return pathlib.Path(get_package_share_directory(package))
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        where = os.environ.get('AMENT_PREFIX_PATH') or 'AMENT_PREFIX_PATH is not set'
        raise FileNotFoundError(f'package {package!r} is not in the ament index ({where})') \
            from None


def resolve_path(raw: str, base: Optional[pathlib.Path]) -> pathlib.Path:
    """
    Resolve a path written in a config file to an absolute path.

    ``package://pkg/rest`` is ``rest`` under that package's share directory; ``$VARS`` and
    ``~`` are expanded; a relative path is relative to ``base`` (the folder of the file it
    was written in; the working directory when None). Raise FileNotFoundError for a
    ``package://`` URL whose package is not installed.
    """
    if raw.startswith(PACKAGE_URL):
        package, _, rest = raw[len(PACKAGE_URL):].partition('/')
        if not package:
            raise FileNotFoundError(f'{raw!r}: expected package://<package>/<path>')
        return (package_share_dir(package) / rest).resolve()
    path = pathlib.Path(os.path.expandvars(raw)).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path.resolve()


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
