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
The malformed-input corpus (test/corpus): a clear error or a documented acceptance.

Never a traceback, a hang or unbounded memory.

One parametrized test per kind: configs, manifests, JSON requests, CLI arguments. A case
named ``ok_*`` is a documented acceptance; every other case must be refused with one line
that names the file (and line when the text has one) or the argument. Each case runs under
a timeout and a memory bound (tracemalloc peak). The limits are in docs/kernel.md ("Limits").
"""

import contextlib
import io
import json
import os
import pathlib
import shutil
import stat
import tracemalloc

import pytest
import redis
import support

from unity_kernel_core.config.kernel_config import load_config
from unity_kernel_core.errors import ConfigError, ModuleError, UnityKernelError

CORPUS = pathlib.Path(__file__).resolve().parents[1] / 'corpus'
MEMORY_BOUND = 64 * 1024 * 1024


def cases(kind):
    return sorted(p.name for p in (CORPUS / kind).iterdir())


@contextlib.contextmanager
def bounded_memory():
    tracemalloc.start()
    try:
        yield
    finally:
        _size, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < MEMORY_BOUND, f'{peak} bytes allocated'


def one_line(text):
    assert text and '\n' not in text.strip(), text
    assert 'Traceback' not in text


# -- configs ------------------------------------------------------------------------------

SPECIAL_CONFIGS = ['special_fifo', 'special_dev_zero', 'special_oversized', 'special_directory']


def special_config(name, tmp_path):
    if name == 'special_fifo':
        os.mkfifo(tmp_path / 'fifo.yaml')
        return tmp_path / 'fifo.yaml'
    if name == 'special_dev_zero':
        return pathlib.Path('/dev/zero')
    if name == 'special_oversized':
        big = tmp_path / 'big.yaml'
        big.write_text('kernel: {}\n# ' + 'x' * (2 * 1024 * 1024) + '\n')
        return big
    return tmp_path


@pytest.mark.timeout(15)
@pytest.mark.parametrize('name', cases('configs') + SPECIAL_CONFIGS)
def test_config_corpus(name, tmp_path):
    if name.startswith('special_'):
        path = special_config(name, tmp_path)
    else:
        path = tmp_path / name
        shutil.copy(CORPUS / 'configs' / name, path)
    with bounded_memory():
        if name.startswith('ok_'):
            load_config(path, environ={})
            return
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})
    for issue in info.value.issues:
        one_line(str(issue))
        assert issue.source == str(path)
    text = (CORPUS / 'configs' / name).read_bytes() if not name.startswith('special_') \
        else b''
    if name.endswith('.yaml') and text.strip() and b'\xff' not in text and b'\xe9' not in text:
        # YAML text always gets a line; JSON where the parser knows one (not for a number
        # out of range)
        assert info.value.issues[0].line is not None, str(info.value)


# -- manifests ----------------------------------------------------------------------------

NODE_SOURCE = 'print("a module node")\n'
INPROC_SOURCE = ('from unity_kernel_core.supervision.module_api import Module\n\n\n'
                 'class Good(Module):\n    pass\n')


def module_folder(tmp_path, name):
    """Make a module folder: the case's manifest, its own files, and links leading out."""
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'evil.py').write_text('raise SystemExit("evil ran")\n')
    (outside / 'evil_inproc.py').write_text('raise SystemExit("evil ran")\n')
    folder = tmp_path / 'mods' / 'mod'
    folder.mkdir(parents=True)
    shutil.copy(CORPUS / 'manifests' / name, folder / 'manifest.yaml')
    (folder / 'node.py').write_text(NODE_SOURCE)
    (folder / 'inproc.py').write_text(INPROC_SOURCE)
    (folder / 'bin').mkdir()
    (folder / 'bin' / 'plain_file').write_text('#!/bin/sh\n')
    os.chmod(folder / 'bin' / 'plain_file', stat.S_IRUSR | stat.S_IWUSR)
    (folder / 'link_out.py').symlink_to(outside / 'evil.py')
    return folder


@pytest.mark.timeout(15)
@pytest.mark.parametrize('name', cases('manifests'))
def test_manifest_corpus(name, tmp_path):
    from unity_kernel_core.supervision.inprocess import load_module_class
    from unity_kernel_core.supervision.manifest import load_manifest, ModuleKind
    from unity_kernel_core.supervision.node_runner import resolve_executable
    folder = module_folder(tmp_path, name)

    def load_and_resolve():
        manifest = load_manifest(folder / 'manifest.yaml')
        if manifest.kind is ModuleKind.NODE:
            return resolve_executable(manifest)
        return load_module_class(manifest)

    with bounded_memory():
        if name.startswith('ok_'):
            assert load_and_resolve()
            return
        with pytest.raises((ConfigError, ModuleError)) as info:
            load_and_resolve()
    message = str(info.value)
    if isinstance(info.value, ModuleError):
        one_line(message)
    else:
        for issue in info.value.issues:
            one_line(str(issue))
    assert 'evil ran' not in message


# -- JSON requests (LLM bridge) -----------------------------------------------------------

@pytest.mark.timeout(15)
@pytest.mark.parametrize('name', cases('requests'))
def test_request_corpus(name):
    from unity_llm_bridge.node import _id_of
    from unity_llm_bridge.routing import LlmRequest
    raw = (CORPUS / 'requests' / name).read_text(encoding='utf-8', errors='surrogatepass')
    with bounded_memory():
        assert _id_of(raw)  # salvaging the id of a refused request never fails
        if name.startswith('ok_'):
            LlmRequest.from_json(raw)
            return
        with pytest.raises(ValueError) as info:
            LlmRequest.from_json(raw)
    one_line(str(info.value))


# -- CLI arguments ------------------------------------------------------------------------

@pytest.fixture
def cli_world(tmp_path, redis_server):
    fifo = tmp_path / 'fifo.yaml'
    os.mkfifo(fifo)
    afile = tmp_path / 'afile'
    afile.write_text('x')
    shared = tmp_path / 'shared'
    shared.mkdir()
    os.chmod(shared, 0o1777)
    configs = {}
    for key, state_dir in (('config_state_dir_file', afile / 'sub'),
                           ('config_state_dir_shared', shared)):
        path = tmp_path / f'{key}.yaml'
        path.write_text(f'kernel: {{state_dir: "{state_dir}"}}\nredis: {{enabled: false}}\n')
        configs[key] = str(path)
    port = redis_server.port
    return {'tmp': str(tmp_path), 'redis_url': redis_server.url, 'fifo': str(fifo),
            'redis_url_password': f'redis://:wrong@127.0.0.1:{port}/0',
            'redis_url_tls': f'rediss://127.0.0.1:{port}/0',
            'dead_url': f'redis://127.0.0.1:{support.free_port()}/0', **configs}


def fill(value, world):
    return value.format(**world) if isinstance(value, str) else value


@pytest.mark.timeout(30)
@pytest.mark.parametrize('name', cases('cli'))
def test_cli_corpus(name, cli_world, monkeypatch, tmp_path, request):
    from unity_kernel_core.cli.main import main
    case = json.loads((CORPUS / 'cli' / name).read_text())
    args = [fill(a, cli_world) for a in case['args']]
    for key in [k for k in os.environ if k.startswith('UNITY_')]:
        monkeypatch.delenv(key)
    monkeypatch.setenv('UNITY_REDIS_PASSWORD', '')
    for key, value in case.get('env', {}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    if 'password' in name:  # a server that wants one; the case gives a wrong one
        admin = redis.Redis.from_url(cli_world['redis_url'])
        admin.config_set('requirepass', 'right-password')
        request.addfinalizer(lambda: redis.Redis.from_url(
            cli_world['redis_url'], password='right-password').config_set('requirepass', ''))
    out, err = io.StringIO(), io.StringIO()
    with bounded_memory(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code
        except UnityKernelError as exc:  # pragma: no cover - the failure this test exists for
            pytest.fail(f'{name}: traceback instead of a message: {exc!r}')
    text = err.getvalue().strip()
    assert code == 2, (code, text, out.getvalue())
    one_line(text)
    assert case['expect'] in text, text
