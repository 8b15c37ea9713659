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
Fuzz: any manifest under a search path is a module or a ManifestError naming the file.

Manifests are read from the configured search paths (``discover``), each as a document
within the limits of ``config.documents`` and then the schema; a node module's executable
and an in-process module's entry must stay inside the module's folder (or be installed
code). Any text, any value under the schema's keys, any file names in the entry: a
Manifest whose files are inside its folder, or a ManifestError whose every issue names the
file, never another exception; ``discover`` keeps the good manifests beside the bad.
"""

import json
import pathlib

from hypothesis import example, given, strategies as st
import pytest

from unity_kernel_core.errors import ManifestError
from unity_kernel_core.supervision.manifest import (discover, Manifest, MANIFEST_NAME,
                                                    ModuleKind, parse_manifest)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)
KEYS = ['name', 'version', 'kind', 'description', 'executable', 'node_name', 'namespace',
        'entry', 'depends', 'parameters', 'topics', 'restart', 'health', 'scheduling',
        'directory', 'source', 'other']
paths = st.lists(st.sampled_from(['..', '.', 'mod', 'node.py', '/', '/etc/passwd', 'a.py',
                                  'link_out.py', '\0', ' ', 'os', 'json', ':Cls', ':',
                                  'x.py:Good']), min_size=1, max_size=4).map('/'.join)
BASE = {'name': 'mod', 'version': '1.0.0', 'kind': 'node', 'executable': 'node.py'}


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('manifests')
    (root / 'mod').mkdir()
    (root / 'mod' / 'node.py').write_text('print("a node")\n')
    (root / 'outside.py').write_text('raise SystemExit("outside ran")\n')
    (root / 'mod' / 'link_out.py').symlink_to(root / 'outside.py')
    return root / 'mod'


def _module_or_error(text, folder):
    source = str(folder / MANIFEST_NAME)
    try:
        manifest = parse_manifest(text, source, folder)
    except ManifestError as exc:
        assert exc.issues and all(str(i).startswith(source) for i in exc.issues)
        return None
    assert isinstance(manifest, Manifest) and manifest.directory == folder
    base = folder.resolve()
    if manifest.kind is ModuleKind.NODE and manifest.executable_is_path():
        target = manifest.module_file(manifest.executable)
        assert target == base or base in target.parents
    if manifest.entry_file() is not None:
        assert base in manifest.entry_file().parents
    return manifest


@given(st.text(max_size=300))
def test_any_manifest_text_is_a_module_or_a_manifest_error(folder, text):
    _module_or_error(text, folder)


@given(st.sampled_from(KEYS), values)
@example('depends', ['mod'])
@example('parameters', {'a': {'nested': 1}})
@example('restart', {'backoff_initial_s': 10, 'backoff_max_s': 1})
def test_any_value_under_a_manifest_key_is_a_module_or_a_manifest_error(folder, key, value):
    _module_or_error(json.dumps({**BASE, key: value}, default=str), folder)


@given(st.sampled_from(['executable', 'entry']), paths)
@example('executable', 'link_out.py')
@example('executable', '../outside.py')
@example('entry', 'link_out.py:Probe')
@example('executable', 'node.py\0')
def test_a_file_named_by_a_manifest_stays_in_its_folder_or_is_refused(folder, key, path):
    doc = {**BASE, key: path}
    if key == 'entry':
        doc.update(kind='inprocess')
        del doc['executable']
    _module_or_error(json.dumps(doc), folder)


@given(st.lists(st.one_of(st.just(json.dumps(BASE)), st.text(max_size=60)), min_size=1,
                max_size=3))
def test_discovery_keeps_the_good_manifests_beside_the_bad(tmp_path_factory, texts):
    root = tmp_path_factory.mktemp('search')
    for i, text in enumerate(texts):
        (root / f'm{i}').mkdir()
        (root / f'm{i}' / MANIFEST_NAME).write_text(text.replace('"mod"', f'"m{i}"'))
        (root / f'm{i}' / 'node.py').write_text('')
    found, errors = discover([pathlib.Path(root)])
    good = [i for i, text in enumerate(texts) if text == json.dumps(BASE)]
    assert sorted(found) == [f'm{i}' for i in good]
    assert len(found) + len(errors) == len(texts)
