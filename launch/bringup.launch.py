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
Bring up UnityKernel under ``ros2 launch``: the kernel as a managed lifecycle node.

    ros2 launch unity_kernel bringup.launch.py [config:=/path/kernel.yaml] [autostart:=true]

Kept thin: every behaviour lives in the tested ``unity_kernel`` executables.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare


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
            description='configure and activate the kernel on start'),
        LifecycleNode(
            package='unity_kernel', executable='kernel', name='unity_kernel', namespace='',
            parameters=[{'config_file': config, 'autostart': autostart}],
            output='screen', respawn=True, respawn_delay=2.0),
    ])
