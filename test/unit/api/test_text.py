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

"""Text from the store made safe to print: controls and format characters as escapes."""

from unity_kernel_core.api.text import printable


def test_printable_text_is_unchanged_and_a_tab_is_kept():
    assert printable('plain ascii, ünïcødé') == 'plain ascii, ünïcødé'
    assert printable('a\tb') == 'a\tb'


def test_terminal_controls_and_bidi_overrides_are_escaped():
    assert printable('\x1b[2Jwiped') == '\\x1b[2Jwiped'
    assert printable('line\nbreak\r') == 'line\\x0abreak\\x0d'
    assert printable('\u202eevil') == '\\u202eevil'
    assert printable('\x7f\x9b') == '\\x7f\\x9b'
