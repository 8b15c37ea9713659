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
Bring up UnityKernel under ``ros2 launch``: the kernel plus the node modules of its config.

    ros2 launch unity_kernel bringup.launch.py [config:=/path/kernel.yaml] [autostart:=true]

The launch system starts each enabled node module as a lifecycle node (respawned if it dies);
the kernel drives their lifecycles in dependency order (``spawn_modules: false``) and runs the
in-process modules itself. Kept thin: the module list comes from the tested
``unity_kernel_core.api.launch_plan``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

from unity_kernel_core.api.launch_plan import autostart_argument, node_modules


def launch_modules(context):
    autostart_argument(LaunchConfiguration('autostart').perform(context))  # a typo: stop here
    config = LaunchConfiguration('config').perform(context)
    return [
        LifecycleNode(
            package='unity_kernel', executable=m.executable, name=m.name,
            namespace=m.namespace, parameters=[m.parameters], prefix=m.prefix or None,
            output='screen', respawn=True, respawn_delay=1.0)
        for m in node_modules(config)]


def generate_launch_description():
    config = LaunchConfiguration('config')
    autostart = LaunchConfiguration('autostart')
    return LaunchDescription([
        DeclareLaunchArgument(
            'config',
            default_value=PathJoinSubstitution(
                [FindPackageShare('unity_kernel'), 'config', 'kernel.yaml']),
            description='kernel config file (YAML or JSON)'),
        DeclareLaunchArgument(
            'autostart', default_value='true',
            description='configure and activate the kernel (and its modules) on start'),
        LifecycleNode(
            package='unity_kernel', executable='kernel', name='unity_kernel', namespace='',
            parameters=[{'config_file': config, 'autostart': autostart,
                         'spawn_modules': False}],
            output='screen', respawn=True, respawn_delay=2.0),
        OpaqueFunction(function=launch_modules),
    ])
