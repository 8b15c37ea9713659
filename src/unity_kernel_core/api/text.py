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

"""Text from the store made safe to print on a terminal."""

import unicodedata

_SHOWN_AS_IS = frozenset('\t')
_ESCAPED = frozenset(('Cc', 'Cf', 'Zl', 'Zp', 'Cs', 'Co', 'Cn'))


def printable(text: str) -> str:
    r"""
    Return ``text`` with control and format characters written as escapes (``\\x1b``).

    What the audit trail, dead letters and heartbeats hold is written by whoever can reach
    Redis: printed verbatim, an ``ESC [`` sequence would drive the terminal (move the cursor,
    rewrite earlier lines, set the title) and a bidi override (U+202E) would reorder what is
    shown. C0/C1 controls, DEL, format characters and line/paragraph separators are shown as
    ``\\xNN`` / ``\\uNNNN`` instead; a tab is kept.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in _SHOWN_AS_IS or unicodedata.category(ch) not in _ESCAPED:
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f'\\x{ord(ch):02x}')
        elif ord(ch) < 0x10000:
            out.append(f'\\u{ord(ch):04x}')
        else:
            out.append(f'\\U{ord(ch):08x}')
    return ''.join(out)
