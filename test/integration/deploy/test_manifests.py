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
The Kubernetes manifests (deploy/kubernetes) against Kubernetes' own schemas and checkov.

kubernetes-validate checks every resource with ``strict`` (unknown fields refused) for the
oldest and newest Kubernetes we support; kustomize (``kubectl kustomize``) renders each
overlay as a cluster would receive it; checkov finds security misconfigurations, and every
check skipped on purpose says why in the manifest.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import support
import yaml

KUBE = support.ROOT / 'deploy' / 'kubernetes'
KUSTOMIZATIONS = sorted(p.parent for p in KUBE.rglob('kustomization.yaml'))
KUBERNETES_VERSIONS = ('1.30', '1.37')
CHECKOV = support.ROOT / '.cache' / 'checkov-venv' / 'bin' / 'checkov'
SKIP_ANNOTATION = re.compile(r'^checkov\.io/skip\d+$')


def kustomize(folder: pathlib.Path) -> list:
    """Render a kustomization as kubectl would apply it."""
    if shutil.which('kubectl') is None:
        pytest.skip('kubectl is not installed: the overlays are rendered by its kustomize')
    out = subprocess.run(['kubectl', 'kustomize', str(folder)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def resource_files():
    """Return every resource file of the manifests (what kustomizations list)."""
    files = []
    for folder in KUSTOMIZATIONS:
        kustomization = yaml.safe_load((folder / 'kustomization.yaml').read_text())
        files += [folder / r for r in kustomization.get('resources', []) if (folder / r).is_file()]
        files += [folder / p['path'] for p in kustomization.get('patches', [])]
    return files


def test_every_manifest_file_is_valid_for_each_kubernetes_version():
    files = resource_files()
    assert {f.name for f in files} >= {'deployment.yaml', 'pvc.yaml', 'statefulset.yaml',
                                       'pdb.yaml', 'service.yaml', 'cluster-init-job.yaml'}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if path.parent.parent.name == 'overlays':
                continue  # a patch is a fragment: checked in the rendered overlay below
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    raise AssertionError(f'{path.relative_to(KUBE)} {doc["kind"]} '
                                         f'{doc["metadata"]["name"]} on {version}: '
                                         f'{exc.message}') from None


@pytest.mark.parametrize('folder', KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(KUBE)))
def test_each_kustomization_renders_to_valid_resources(folder):
    docs = kustomize(folder)
    assert docs
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                raise AssertionError(f'{folder.relative_to(KUBE)}: {doc["kind"]} '
                                     f'{doc["metadata"]["name"]} on {version}: '
                                     f'{exc.message}') from None


def test_strict_validation_refuses_an_unknown_field():
    deployment = yaml.safe_load((KUBE / 'robot' / 'deployment.yaml').read_text())
    deployment['spec']['template']['spec']['containers'][0]['livenessprobe'] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match='livenessprobe'):
        kubernetes_validate.validate(deployment, '1.37', strict=True)


def run_checkov(path: pathlib.Path) -> dict:
    """Run checkov on a file (without network where we can make sure of it); its JSON."""
    if not CHECKOV.exists():
        pytest.skip(f'checkov is not installed in {CHECKOV.parent.parent} '
                    '(`make setup-dev` installs it, requirements-checkov.txt)')
    command = [str(CHECKOV), '--framework', 'kubernetes', '--skip-download',
               '-o', 'json', '-f', str(path)]
    if os.geteuid() == 0 and shutil.which('unshare'):
        command = ['unshare', '--net', *command]  # checkov asks nothing of the network
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, BC_SKIP_MAPPING='TRUE'))
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def skip_reasons(docs: list) -> dict:
    """Return {check id: reason} of every checkov skip annotated in ``docs``."""
    reasons = {}
    for doc in docs:
        for key, value in (doc['metadata'].get('annotations') or {}).items():
            if SKIP_ANNOTATION.match(key):
                check, _, reason = value.partition('=')
                reasons[check] = reason
    return reasons


@pytest.mark.parametrize('folder', KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(KUBE)))
def test_checkov_finds_nothing_left_unexplained(folder, tmp_path):
    docs = kustomize(folder)
    rendered = tmp_path / 'rendered.yaml'
    rendered.write_text(yaml.safe_dump_all(docs))
    report = run_checkov(rendered)
    summary = report['summary']
    failed = [f'{c["check_id"]} {c["resource"]}: {c["check_name"]}'
              for c in report['results']['failed_checks']]
    assert summary['failed'] == 0, '\n'.join(failed)
    assert summary['parsing_errors'] == 0 and summary['passed'] > 50
    reasons = skip_reasons(docs)
    for skipped in report['results']['skipped_checks']:
        reason = reasons.get(skipped['check_id'], '')
        assert len(reason.split()) >= 8, \
            f'{skipped["check_id"]} is skipped without a reason in the manifest'


def test_the_probes_run_the_images_health_check():
    containerfile = (support.ROOT / 'deploy' / 'Containerfile').read_text()
    healthcheck = re.search(r'^HEALTHCHECK .*?CMD (\[.*?\])$', containerfile,
                            re.MULTILINE | re.DOTALL)
    assert healthcheck is not None
    command = json.loads(healthcheck.group(1))
    deployment = yaml.safe_load((KUBE / 'robot' / 'deployment.yaml').read_text())
    container = deployment['spec']['template']['spec']['containers'][0]
    wait_s = float(command[command.index('--timeout') + 1])
    for probe in ('startupProbe', 'livenessProbe', 'readinessProbe'):
        assert container[probe]['exec']['command'] == command
        assert container[probe]['timeoutSeconds'] > wait_s
    assert container['args'] == ['up', '--config', '/etc/unity_kernel/kernel.yaml']


def test_every_kernel_config_of_the_manifests_is_valid():
    configs = sorted(KUBE.rglob('kernel.yaml'))
    assert len(configs) == 3
    for config in configs:
        result = subprocess.run([sys.executable, '-m', 'unity_kernel_core.cli.main',
                                 'check-config', str(config)], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
