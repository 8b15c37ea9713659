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

"""Module manifests: valid ones load, malformed ones give file:line and what was expected."""

import pathlib
import textwrap

import pytest

from unity_kernel_core.errors import ManifestError
from unity_kernel_core.supervision.manifest import (discover, load_manifest, ModuleKind,
                                                    parse_manifest)

ROOT = pathlib.Path(__file__).resolve().parents[3]

GOOD_NODE = """\
name: camera
version: 0.1.0
kind: node
executable: camera
parameters: {fps: 30.0, source: synthetic, sizes: [1, 2]}
"""

GOOD_INPROCESS = """\
name: monitor
version: 1.2.3
kind: inprocess
entry: monitor.py:Monitor
depends: [heartbeat]
"""


def parse(text):
    return parse_manifest(textwrap.dedent(text), 'm/manifest.yaml', pathlib.Path('/m'))


def test_valid_manifests_load_with_defaults():
    node = parse(GOOD_NODE)
    assert node.kind is ModuleKind.NODE
    assert node.ros_node_name == 'camera'
    assert node.fully_qualified_node_name == '/camera'
    assert node.restart.policy == 'on-failure'
    inproc = parse(GOOD_INPROCESS)
    assert inproc.entry_file() == pathlib.Path('/m/monitor.py')
    assert inproc.depends == ['heartbeat']


def test_shipped_example_modules_are_valid():
    manifests, errors = discover([ROOT / 'modules'])
    assert not errors, [str(e) for e in errors]
    assert {'heartbeat', 'monitor'} <= set(manifests)
    assert manifests['monitor'].depends == ['heartbeat']


MALFORMED = [
    ('name: [unclosed\n', 2, 'invalid YAML'),
    ('- a list\n', 1, 'expected a mapping at the top level'),
    ('version: 0.1.0\nkind: node\nexecutable: x\n', None, 'name: Field required'),
    ('name: Camera\nversion: 0.1.0\nkind: node\nexecutable: x\n', 1, 'should match pattern'),
    ('name: cam\nversion: one\nkind: node\nexecutable: x\n', 2, 'version'),
    ('name: cam\nversion: 0.1.0\nkind: daemon\nexecutable: x\n', 3, "'node' or 'inprocess'"),
    ('name: cam\nversion: 0.1.0\nkind: node\n', None, "needs 'executable'"),
    ('name: cam\nversion: 0.1.0\nkind: inprocess\n', None, "needs 'entry'"),
    ('name: cam\nversion: 0.1.0\nkind: inprocess\nentry: monitor\n', None,
     "expected 'file.py:Class'"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nentry: a.py:B\n', None,
     "'entry' is for 'inprocess' modules"),
    ('name: cam\nversion: 0.1.0\nkind: inprocess\nentry: a.py:B\nexecutable: x\n', None,
     "'executable' is for 'node' modules"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ndepends: [cam]\n', None,
     'depends on itself'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ndepends: [a, a]\n', 5,
     'listed twice'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ndepends: [Bad-Name]\n', 5,
     'not a module name'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ndepends: base\n', 5,
     'valid list'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nparameters: {a: {b: 1}}\n', 5,
     "parameter 'a'"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nparameters: {a: [1, x]}\n', 5,
     "parameter 'a'"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nparameters: {9lives: 1}\n', 5,
     'not a valid ROS parameter name'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nnode_name: my-node\n', 5,
     'not a valid ROS node name'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nnamespace: robot\n', 5,
     "must be '/'"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ntopics: {publishes: [img]}\n',
     5, 'must be an absolute name'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ntopics: {listens: [/a]}\n', 5,
     'unknown key'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nrestart: {policy: sometimes}\n',
     5, "'always', 'on-failure' or 'never'"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nrestart: {max_restarts: -1}\n', 5,
     'greater than or equal to 0'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\n'
     'restart: {backoff_initial_s: 5, backoff_max_s: 1}\n', 5, 'backoff_max_s'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nhealth: {heartbeat_timeout_s: 0}\n',
     5, 'greater than 0'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nhealth:\n  max_error_rate: 2\n', 6,
     'less than or equal to 1'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ncolour: blue\n', 5, 'unknown key'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nscheduling: {nice: -21}\n', 5,
     'greater than or equal to -20'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nscheduling:\n  nice: 20\n', 6,
     'less than or equal to 19'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nscheduling: {policy: fifo}\n', 5,
     "policy 'fifo' needs a priority (1..99)"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\n'
     'scheduling: {policy: rr, priority: 100}\n', 5, 'less than or equal to 99'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\n'
     'scheduling: {policy: fifo, priority: 0}\n', 5, 'greater than or equal to 1'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nscheduling: {priority: 10}\n', 5,
     "priority is for policy 'fifo' or 'rr'"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\n'
     'scheduling: {policy: fifo, priority: 10, nice: -5}\n', 5, 'nice has no effect'),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nscheduling: {policy: idle}\n', 5,
     "'other', 'fifo' or 'rr'"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\nscheduling: {niceness: 1}\n', 5,
     'unknown key'),
    ('name: cam\nversion: 0.1.0\nkind: inprocess\nentry: a.py:B\nscheduling: {nice: 5}\n', None,
     "'scheduling' is for 'node' modules"),
    ('name: cam\nversion: 0.1.0\nkind: node\nexecutable: x\ndirectory: /etc\n', 5,
     'unknown key'),
]


@pytest.mark.parametrize('text,line,expected', MALFORMED)
def test_malformed_manifest_is_reported_with_line_and_expectation(text, line, expected):
    with pytest.raises(ManifestError) as info:
        parse(text)
    message = str(info.value)
    assert 'invalid module manifest' in message
    assert expected in message, message
    if line is not None:
        assert any(i.line == line for i in info.value.issues), message
    assert all(i.source == 'm/manifest.yaml' for i in info.value.issues)


def test_unreadable_manifests_are_errors(tmp_path):
    with pytest.raises(ManifestError, match='file not found'):
        load_manifest(tmp_path / 'nope' / 'manifest.yaml')
    (tmp_path / 'bin').mkdir()
    (tmp_path / 'bin' / 'manifest.yaml').write_bytes(b'\xff\xfe name')
    with pytest.raises(ManifestError, match='not UTF-8'):
        load_manifest(tmp_path / 'bin')


def test_discovery_keeps_good_modules_and_reports_bad_and_duplicate(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    (a / 'one').mkdir(parents=True)
    (a / 'one' / 'manifest.yaml').write_text(GOOD_NODE)
    (a / 'broken').mkdir()
    (a / 'broken' / 'manifest.yaml').write_text('name: broken\nkind: node\n')
    (b / 'again').mkdir(parents=True)
    (b / 'again' / 'manifest.yaml').write_text(GOOD_NODE)
    manifests, errors = discover([a, b, tmp_path / 'missing'])
    assert set(manifests) == {'camera'}
    assert manifests['camera'].directory == (a / 'one').resolve()
    text = '\n'.join(str(e) for e in errors)
    assert 'broken/manifest.yaml' in text and 'version: Field required' in text
    assert "module 'camera' is already defined" in text
    assert 'module search path is not a directory' in text


def test_a_file_name_that_cannot_be_resolved_is_an_issue_and_discovery_goes_on(tmp_path):
    """
    Regression (the manifest fuzzer): a NUL or a symlink loop in `executable` stopped discover.

    It raised out of it, and every module of the search paths was lost with it.
    """
    for name, executable in (('nul', '"bin\\0/node.py"'), ('loop', 'a/x.py')):
        folder = tmp_path / name
        folder.mkdir()
        (folder / 'manifest.yaml').write_text(
            f'name: {name}\nversion: 1.0.0\nkind: node\nexecutable: {executable}\n')
    (tmp_path / 'loop' / 'a').symlink_to('b')
    (tmp_path / 'loop' / 'b').symlink_to('a')
    good = tmp_path / 'good'
    good.mkdir()
    (good / 'manifest.yaml').write_text('name: good\nversion: 1.0.0\nkind: node\n'
                                        'executable: node.py\n')
    found, errors = discover([tmp_path])
    assert list(found) == ['good']
    messages = sorted(str(e) for e in errors)
    assert 'cannot be resolved in the module folder' in messages[0]
    assert 'a path cannot hold a NUL character' in messages[1]
