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
Fuzz: a journal segment with any damage opens, keeps every intact record, invents none.

A segment of records is written, then bytes anywhere in it are overwritten (header, frames,
payloads) and it may be cut short. Opening never fails; the records read back are the
originals in their order (a subsequence: a damaged record is lost), and every record whose
frame no damage touched is among them.
"""

import contextlib
import logging
import pathlib
import tempfile

from hypothesis import given, strategies as st

from unity_kernel_core.audit.journal import frame, Journal, MAGIC


@contextlib.contextmanager
def quiet():
    """Silence the quarantine's ERRORs while an example runs (each one logs some)."""
    loggers = [logging.getLogger(n) for n in ('unity_kernel.files', 'unity_kernel.journal')]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


damages = st.lists(st.tuples(st.integers(0, 4000), st.binary(min_size=1, max_size=12)),
                   max_size=5)


def read_all(journal):
    out = []
    while journal.pending:
        batch, cursor = journal.read(100)
        if not batch:
            break
        out += batch
        journal.commit(cursor)
    return out


@given(st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=40), damages,
       st.one_of(st.none(), st.integers(0, 4000)), st.booleans())
def test_a_damaged_segment_keeps_every_intact_record_and_invents_none(records, damage, cut,
                                                                      last):
    with tempfile.TemporaryDirectory() as name, quiet():
        directory = pathlib.Path(name) / 'j'
        directory.mkdir(mode=0o700)
        blob = bytearray(MAGIC)
        spans = []
        for record in records:
            spans.append((len(blob), len(blob) + len(frame(record))))
            blob += frame(record)
        touched = set()
        for at, data in damage:
            if at < len(blob):
                blob[at:at + len(data)] = data[:len(blob) - at]
                touched.update(range(at, min(at + len(data), len(blob))))
        if cut is not None and cut < len(blob):
            del blob[cut:]
        segment = directory / 'seg-000000000001.jrn'
        segment.write_bytes(bytes(blob))
        segment.chmod(0o600)
        if not last:  # a later segment: the damaged one is not where a crash tears
            later = directory / 'seg-000000000002.jrn'
            later.write_bytes(MAGIC + frame(b'later'))
            later.chmod(0o600)
        journal = Journal(directory, max_bytes=1 << 20)
        got = read_all(journal)
        if not last:
            assert got[-1:] == [b'later']
            got = got[:-1]
        it = iter(records)
        assert all(any(r == g for r in it) for g in got)  # a subsequence, in order
        intact = [r for r, (start, end) in zip(records, spans)
                  if end <= len(blob) and not touched.intersection(range(start, end))]
        for record in intact:
            assert record in got
