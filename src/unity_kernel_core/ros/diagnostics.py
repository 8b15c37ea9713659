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
Diagnostic levels, one builder of ``diagnostic_msgs/DiagnosticStatus`` from plain values.

And the same statuses as rviz text markers: rviz has no display of ``/diagnostics``, so the
kernel also publishes its statuses as a ``visualization_msgs/MarkerArray`` (the shipped
``config/unity_kernel.rviz`` shows them next to the camera image).
"""

from typing import Any, Dict, Sequence

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE


def status(name: str, level: bytes, message: str, values: Dict[str, object],
           hardware_id: str = '') -> DiagnosticStatus:
    """Build a DiagnosticStatus from plain values."""
    return DiagnosticStatus(
        level=level, name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])


#: Text colour (r, g, b) of a status by level: green, yellow, red, grey.
LEVEL_COLORS = {OK: (0.2, 0.9, 0.2), WARN: (1.0, 0.8, 0.0), ERROR: (1.0, 0.2, 0.2),
                STALE: (0.6, 0.6, 0.6)}
MARKER_NAMESPACE = 'unity_kernel_status'
LINE_SPACING_M = 0.3
MAX_TEXT = 120


def status_markers(statuses: Sequence[DiagnosticStatus], frame_id: str, stamp: Any) -> Any:
    """
    Return the statuses as rviz text lines, one under the other, coloured by level.

    The first marker deletes the previous lines (a status that went away does not linger).
    Lines are in ``frame_id``; set rviz's fixed frame to it (no TF needed). Return a
    ``visualization_msgs/MarkerArray``.
    """
    from visualization_msgs.msg import Marker, MarkerArray  # only a kernel that publishes them
    markers = [Marker(action=Marker.DELETEALL, ns=MARKER_NAMESPACE)]
    for index, entry in enumerate(statuses):
        level = entry.level if isinstance(entry.level, bytes) else bytes([entry.level])
        red, green, blue = LEVEL_COLORS.get(level, LEVEL_COLORS[STALE])
        marker = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns=MARKER_NAMESPACE,
                        id=index, text=f'{entry.name}: {entry.message}'[:MAX_TEXT])
        marker.header.frame_id = frame_id
        marker.header.stamp = stamp
        marker.pose.position.z = -LINE_SPACING_M * index
        marker.pose.orientation.w = 1.0
        marker.scale.z = 0.2
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = red, green, blue, 1.0
        markers.append(marker)
    return MarkerArray(markers=markers)
