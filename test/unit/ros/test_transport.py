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

"""A publisher of large messages picks its own DDS transport, unless the user chose one."""

from unity_kernel_core.ros.transport import large_data_profile, PROFILES_VARIABLE
from unity_kernel_core.ros.transport import use_large_data_transport


def test_the_shipped_large_data_profile_is_used_when_nothing_else_is_set():
    env = {}
    assert use_large_data_transport(env) == str(large_data_profile())
    assert env == {PROFILES_VARIABLE: str(large_data_profile())}
    assert '<segment_size>16777216</segment_size>' in large_data_profile().read_text()
    env = {'RMW_IMPLEMENTATION': 'rmw_fastrtps_dynamic_cpp'}
    assert use_large_data_transport(env) == str(large_data_profile())


def test_the_users_own_profile_and_another_rmw_are_left_alone():
    env = {PROFILES_VARIABLE: '/etc/my_profile.xml'}
    assert use_large_data_transport(env) is None
    assert env == {PROFILES_VARIABLE: '/etc/my_profile.xml'}
    env = {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}
    assert use_large_data_transport(env) is None and PROFILES_VARIABLE not in env


def test_the_users_builtin_transports_are_left_alone():
    # a container's UDPv4: the large-data profile's shared memory would not reach a
    # subscriber in another container (it would discover it and deliver nothing)
    env = {'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4'}
    assert use_large_data_transport(env) is None
    assert env == {'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4'}
