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
The ROS user's path, word for word: the shipped rviz config and every ``ros2`` command in docs.

The ``ros2`` CLI and ``launch`` are not installable here, so the graph they would act on is
started as ``ros2 launch unity_kernel bringup.launch.py`` starts it (the kernel with
``spawn_modules:=false``, each node module of the launch plan as its own process with its
parameters in a ``--params-file``), and each documented command is carried out on it with an
rclpy probe: ``lifecycle set`` really changes the state, ``param set`` really sets, ``topic
echo`` needs a publisher of the topic, ``service call`` really calls. A command this file does
not know is a failure, so the docs cannot drift into commands nothing checks.
"""

import os
import pathlib
import re
import shlex
import shutil
import sys
from typing import List, Optional, Tuple

from lifecycle_msgs.srv import GetState
import pytest
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
import rclpy
from rclpy.parameter import Parameter
import support
import yaml

from unity_kernel_core.api.launch_plan import node_modules
from unity_kernel_core.paths import share_dir
from unity_kernel_core.ros.message_types import import_message_type
from unity_kernel_core.supervision.manifest import discover

pytestmark = pytest.mark.ros

SHIPPED = support.ROOT / 'config' / 'kernel.yaml'
RVIZ = support.ROOT / 'config' / 'unity_kernel.rviz'
LAUNCH = support.ROOT / 'launch' / 'bringup.launch.py'
DOCS = [support.ROOT / 'README.md'] + sorted((support.ROOT / 'docs').glob('*.md'))
PREFIX_SHARE = '$(ros2 pkg prefix unity_kernel)/share/unity_kernel'

PLACEHOLDER = re.compile(r'^<[a-z_]+>$')

#: executable -> module of its main(), from setup.py's console_scripts
CONSOLE_SCRIPTS = {name: (module, function) for name, module, function in re.findall(
    r"'([a-z_][a-z0-9_-]*) = ([a-z_.]+):([a-z_]+)'", (support.ROOT / 'setup.py').read_text())}

#: rviz display class -> the message type it subscribes to
RVIZ_TYPES = {
    'rviz_default_plugins/Image': 'sensor_msgs/msg/Image',
    'rviz_default_plugins/Camera': 'sensor_msgs/msg/Image',
    'rviz_default_plugins/MarkerArray': 'visualization_msgs/msg/MarkerArray',
    'rviz_default_plugins/Marker': 'visualization_msgs/msg/Marker',
    'rviz_default_plugins/WrenchStamped': 'geometry_msgs/msg/WrenchStamped',
}

# -- the graph, as ros2 launch starts it -------------------------------------------------------


class Graph:
    """A private ROS domain with the processes a doc block starts, and a probe on it."""

    def __init__(self, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.env = {**os.environ, **support.ros_environment(tmp), 'HOME': str(tmp / 'home')}
        self.processes = support.ProcessGroup()
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=int(self.env['ROS_DOMAIN_ID']))
        self.probe = support.Probe(self.context, name='docs_probe')
        self.started: List[str] = []

    def launch(self, config: pathlib.Path = SHIPPED, autostart: bool = True) -> None:
        """Start what ``ros2 launch unity_kernel bringup.launch.py`` starts."""
        self.run('kernel', ['-r', '__node:=unity_kernel', '-p', f'config_file:={config}',
                            '-p', f'autostart:={str(autostart).lower()}',
                            '-p', 'spawn_modules:=false'])
        for m in node_modules(config):
            params = self.tmp / f'{m.module}.params.yaml'
            params.write_text(yaml.safe_dump({'/**': {'ros__parameters': m.parameters}}))
            self.run(m.executable, ['-r', f'__node:={m.name}', '-r', f'__ns:={m.namespace}',
                                    '--params-file', str(params)])
        node = 'unity_kernel'
        want = 'active' if autostart else 'unconfigured'
        support.wait_for(lambda: self.state(node) == want, 60, message=f'{node} {want}')
        if autostart:
            for m in node_modules(config):
                name = f'{m.namespace.rstrip("/")}/{m.name}'.lstrip('/')
                support.wait_for(lambda: self.state(name) == 'active', 60,
                                 message=f'{name} activated by the kernel')

    def run(self, executable: str, ros_args: List[str]) -> None:
        """Start ``ros2 run unity_kernel EXECUTABLE --ros-args ROS_ARGS``."""
        module, function = CONSOLE_SCRIPTS[executable]  # its entry point, as in this checkout
        code = f'import sys; from {module} import {function}; sys.exit({function}())'
        log = self.tmp / f'{executable}-{len(self.started)}.log'
        self.processes.start([sys.executable, '-c', code, '--ros-args', *ros_args], self.env,
                             log)
        self.started.append(executable)

    def state(self, node: str) -> Optional[str]:
        try:
            return self.probe._call(GetState, f'/{node}/get_state', GetState.Request(),
                                    timeout=2.0).current_state.label
        except AssertionError:
            return None

    def close(self) -> None:
        self.processes.stop_all()
        self.probe.close()
        self.context.try_shutdown()
        support.release_domain_id(int(self.env['ROS_DOMAIN_ID']))


@pytest.fixture(scope='module')
def bringup(tmp_path_factory):
    """Provide the shipped bring-up (autostart:=true, the launch default), up and active."""
    graph = Graph(tmp_path_factory.mktemp('bringup'))
    try:
        graph.launch()
        yield graph
    finally:
        graph.close()


def publishers(graph: Graph, topic: str, timeout: float = 20.0):
    return support.wait_for(lambda: graph.probe.node.get_publishers_info_by_topic(topic),
                            timeout, message=f'a publisher of {topic}')

# -- rviz ----------------------------------------------------------------------------------


def rviz_displays(node) -> List[Tuple[str, str, dict]]:
    """Return (class, topic, topic settings) of every display, groups included."""
    out = []
    for display in node.get('Displays') or []:
        if display.get('Class') == 'rviz_common/Group':
            out += rviz_displays(display)
        elif isinstance(display.get('Topic'), dict):
            out.append((display['Class'], display['Topic']['Value'], display['Topic']))
    return out


def test_rviz_config_is_installed_and_shows_the_camera_image_and_kernel_status():
    setup = (support.ROOT / 'setup.py').read_text()
    assert "glob('config/*.rviz')" in setup
    displays = rviz_displays(yaml.safe_load(RVIZ.read_text())['Visualization Manager'])
    topics = {topic for _, topic, _ in displays}
    assert {'/sensors/camera/image_raw', '/unity_kernel/status_markers'} <= topics


def test_every_rviz_display_subscribes_to_a_topic_the_bringup_publishes(bringup):
    from rclpy.qos import ReliabilityPolicy
    config = yaml.safe_load(RVIZ.read_text())['Visualization Manager']
    for cls, topic, settings in rviz_displays(config):
        assert cls in RVIZ_TYPES, f'{cls}: add its message type to RVIZ_TYPES'
        found = publishers(bringup, topic)
        types = {p.topic_type for p in found}
        assert types == {RVIZ_TYPES[cls]}, (topic, types)
        # a reliable subscription never matches a best-effort publisher
        if settings.get('Reliability Policy') == 'Reliable':
            assert all(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                       for p in found), f'{topic}: publisher is best effort'
    # the status markers are in the fixed frame, so rviz needs no TF for them
    from visualization_msgs.msg import MarkerArray
    got = bringup.probe.collect('/unity_kernel/status_markers', MarkerArray)
    support.wait_for(lambda: got, 10, message='status markers')
    frames = {m.header.frame_id for m in got[-1].markers if m.action == m.ADD}
    assert frames == {config['Global Options']['Fixed Frame']}
    assert any('unity_kernel: module camera' in m.text for m in got[-1].markers)

# -- docs, word for word -------------------------------------------------------------------


def doc_blocks() -> List[Tuple[str, List[str]]]:
    """Return (where, commands) per fenced shell block, and per inline `ros2 ...` span."""
    blocks = []
    for path in DOCS:
        text = path.read_text()
        name = path.relative_to(support.ROOT)
        for line, language, body in fenced_blocks(text):
            commands = [c for c in split_commands(body) if is_command(c)]
            if language in ('', 'bash', 'sh', 'console') and commands:
                blocks.append((f'{name}:{line}', commands))
        prose = '\n'.join(
            line for line, fenced in zip(text.splitlines(), fence_mask(text)) if not fenced)
        for match in re.finditer(r'`((?:ros2|rviz2) [^`]+)`', prose):
            words = match.group(1).split()  # (a span may wrap over lines)
            if not any(w.startswith('/') or w == 'unity_kernel' for w in words):
                continue  # a mention of a tool (`ros2 launch`, `ros2 bag`), not a command
            start = text.index(match.group(0))
            line = text[:start].count('\n') + 1
            # its sentence, up to it, says what to expect ("A bad value is refused (`...`")
            before = text[:start]
            sentence = before[max(before.rfind('. '), before.rfind('\n\n')) + 1:]
            context = ' '.join(sentence.split()).replace('#', '')
            blocks.append((f'{name}:{line} (inline)',
                           [f'{c}  # {context}' for c in split_commands(' '.join(words))]))
    return blocks


def fence_mask(text: str) -> List[bool]:
    """Return, per line, whether it is part of a fenced code block (fences included)."""
    mask, inside = [], False
    for line in text.splitlines():
        fence = line.lstrip().startswith('```')
        mask.append(inside or fence)
        if fence:
            inside = not inside
    return mask


def fenced_blocks(text: str) -> List[Tuple[int, str, str]]:
    """Return (first line, language, body) of every fenced code block."""
    blocks, start, language, body = [], 0, '', []
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith('```'):
            if inside:
                blocks.append((start, language, '\n'.join(body)))
            else:
                start, language, body = number + 1, line.strip()[3:].strip(), []
            inside = not inside
        elif inside:
            body.append(line)
    return blocks


def split_commands(text: str) -> List[str]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            out += [part.strip() for part in line.split('&&')]
    return out


def is_command(command: str) -> bool:
    return command.split()[0] in ('ros2', 'rviz2', 'colcon', 'source', 'cp')


class Docs:
    """Carry out documented commands on a graph; collect what does not work."""

    def __init__(self, graph: Graph, default: Optional[Graph] = None) -> None:
        self.graph = graph
        self.default = default
        """The shipped bring-up, for commands of a block that starts nothing itself."""
        self.starts = default is not None
        """False on the shared bring-up: ``launch`` and ``run`` are checked, not started."""
        self.problems: List[str] = []

    def check(self, where: str, command: str) -> None:
        home = self.graph.env['HOME']
        raw = command.replace(PREFIX_SHARE, str(share_dir())).replace('$HOME', home)
        raw = re.sub(r'(?<![\w/])~/', home + '/', raw)
        comment = raw.split(' #', 1)[1] if ' #' in raw else ''
        try:
            words = shlex.split(raw, comments=True)
        except ValueError as exc:
            self.problems.append(f'{where}: {command!r}: {exc}')
            return
        try:
            problem = self.carry_out(words, comment)
        except AssertionError as exc:
            problem = str(exc).splitlines()[0]
        if problem:
            self.problems.append(f'{where}: {command!r}: {problem}')

    def carry_out(self, words: List[str], comment: str) -> str:
        tool, args = words[0], words[1:]
        if tool == 'colcon':
            return '' if args[:1] in (['build'], ['test'], ['test-result']) else 'unknown'
        if tool == 'source':
            return '' if args == ['install/setup.bash'] else 'unknown'
        if tool == 'cp':
            pathlib.Path(args[1]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(args[0], args[1])
            return ''
        if tool == 'rviz2':
            if args[:1] != ['-d'] or not pathlib.Path(args[1]).is_file():
                return 'expected rviz2 -d <an installed .rviz file>'
            yaml.safe_load(pathlib.Path(args[1]).read_text())
            return ''
        verb, rest = args[0], args[1:]
        handler = getattr(self, f'ros2_{verb}', None)
        if handler is None:
            return f'ros2 {verb}: not a command this test knows'
        return handler(rest, comment)

    # each ros2 verb as the CLI would carry it out

    def ros2_launch(self, args: List[str], _comment: str) -> str:
        if args[:2] != ['unity_kernel', 'bringup.launch.py']:
            return 'expected ros2 launch unity_kernel bringup.launch.py'
        declared = set(re.findall(r"DeclareLaunchArgument\(\s*'([a-z_]+)'", LAUNCH.read_text()))
        given = dict(a.split(':=', 1) for a in args[2:])
        unknown = set(given) - declared
        if unknown:
            return f'launch arguments {unknown} not declared (declared: {declared})'
        config = pathlib.Path(given.get('config', SHIPPED))
        if not config.is_file():
            return f'config {config} does not exist'
        if self.starts:
            self.graph.launch(config, autostart=given.get('autostart', 'true') == 'true')
        return ''

    def ros2_run(self, args: List[str], _comment: str) -> str:
        if args[0] != 'unity_kernel':
            return 'expected ros2 run unity_kernel ...'
        if args[1] not in CONSOLE_SCRIPTS:
            return f'{args[1]} is not an executable of the package ({sorted(CONSOLE_SCRIPTS)})'
        if args[1] == 'unity-kernel':
            return ''  # the CLI: its verbs are tested in test_cli
        if args[2:] and args[2] != '--ros-args':
            return 'a node takes only --ros-args here'
        if self.starts:
            self.graph.run(args[1], args[3:])
        return ''

    def ros2_pkg(self, args: List[str], _comment: str) -> str:
        if args[:1] == ['create']:
            return ''  # the upstream template the house style refers to
        return '' if args == ['prefix', 'unity_kernel'] else 'unknown'

    def target(self) -> Graph:
        """Return the graph a command acts on: this block's, or the default bring-up."""
        return self.graph if self.graph.started or self.default is None else self.default

    def ros2_node(self, args: List[str], _comment: str) -> str:
        graph = self.target()
        if args[0] == 'list':
            return ''
        if args[0] == 'info':
            names = {f'{ns.rstrip("/")}/{n}' for n, ns in
                     graph.probe.node.get_node_names_and_namespaces()}
            return '' if args[1] in names else f'no node {args[1]} ({sorted(names)})'
        return 'unknown'

    def ros2_topic(self, args: List[str], _comment: str) -> str:
        graph = self.target()
        if args[0] == 'list':
            return ''
        if args[0] not in ('echo', 'hz', 'info') or not args[1].startswith('/'):
            return 'unknown'
        flags = [a for a in args[2:] if a.startswith('-')]
        if set(flags) - {'--no-arr', '--once', '--verbose'}:
            return f'flags {flags} not checked here'
        publishers(graph, args[1])
        return ''

    def ros2_lifecycle(self, args: List[str], _comment: str) -> str:
        graph = self.target()
        node = args[1].lstrip('/')
        state = support.wait_for(lambda: graph.state(node), 30,
                                 message=f'lifecycle node {args[1]} answering')
        if args[0] == 'get':
            return ''
        if args[0] == 'set':
            before = state
            if not graph.probe.change_state(node, args[2]):
                return f'transition {args[2]} refused in state {before}'
            return ''
        return 'unknown'

    def ros2_param(self, args: List[str], comment: str) -> str:
        graph = self.target()
        node = args[1]
        listed = graph.probe._call(ListParameters, f'{node}/list_parameters',
                                   ListParameters.Request()).result.names
        if args[0] == 'list' or PLACEHOLDER.match(args[2]):
            return ''  # (`ros2 param describe /node <name>`: the node is checked)
        name = args[2]
        if name not in listed:
            return f'{node} has no parameter {name}'
        if args[0] == 'get':
            graph.probe._call(GetParameters, f'{node}/get_parameters',
                              GetParameters.Request(names=[name]))
            return ''
        if args[0] == 'describe':
            graph.probe._call(DescribeParameters, f'{node}/describe_parameters',
                              DescribeParameters.Request(names=[name]))
            return ''
        if args[0] == 'set':
            value = yaml.safe_load(args[3])
            msg = Parameter(name, value=value).to_parameter_msg()
            assert msg.value.type != ParameterType.PARAMETER_NOT_SET
            [result] = graph.probe._call(SetParameters, f'{node}/set_parameters',
                                         SetParameters.Request(parameters=[msg])).results
            refused_expected = 'refused' in comment
            if result.successful == refused_expected:
                return f'set {"succeeded" if result.successful else "failed"}: {result.reason}'
            return ''
        return 'unknown'

    def ros2_service(self, args: List[str], _comment: str) -> str:
        graph = self.target()
        if args[0] != 'call':
            return 'unknown'
        name, srv_name = args[1], args[2]
        srv = import_message_type(srv_name)
        request = srv.Request()
        for key, value in (yaml.safe_load(args[3]) if len(args) > 3 else {}).items():
            setattr(request, key, value)
        response = graph.probe._call(srv, name, request)
        if getattr(response, 'success', True) is False:
            return f'answered success=False: {getattr(response, "message", "")}'
        return ''


def graph_blocks(blocks):
    """Split blocks into those that start their own graph and those using the bring-up."""
    own, shared = [], []
    for where, commands in blocks:
        starts = not where.endswith('(inline)') and any(
            c.startswith('ros2 launch') or
            (c.startswith('ros2 run unity_kernel') and
             not c.startswith('ros2 run unity_kernel unity-kernel')) for c in commands)
        (own if starts else shared).append((where, commands))
    return own, shared


def test_docs_have_ros2_commands_to_check_and_no_merge_conflict_markers():
    for path in DOCS:
        markers = [n for n, line in enumerate(path.read_text().splitlines(), 1)
                   if line.startswith(('<<<<<<< ', '>>>>>>> '))]
        assert not markers, f'{path}: merge conflict markers at lines {markers}'
    blocks = doc_blocks()
    commands = [c for _, cs in blocks for c in cs]
    assert any(c.startswith('ros2 launch') for c in commands)
    assert any(c.startswith('ros2 lifecycle set') for c in commands)
    assert any(c.startswith('ros2 param set') for c in commands)
    assert any(c.startswith('rviz2 -d') for c in commands)


def test_every_documented_command_works_on_the_shipped_bringup(bringup):
    _own, shared = graph_blocks(doc_blocks())
    docs = Docs(bringup)
    for where, commands in shared:
        for command in commands:
            docs.check(where, command)
    assert not docs.problems, '\n'.join(docs.problems)


@pytest.mark.parametrize('where, commands', graph_blocks(doc_blocks())[0],
                         ids=lambda v: v if isinstance(v, str) else '')
def test_documented_session_runs_as_written(where, commands, tmp_path, bringup):
    graph = Graph(tmp_path)
    try:
        docs = Docs(graph, default=bringup)
        for command in commands:
            docs.check(where, command)
        assert not docs.problems, '\n'.join(docs.problems)
    finally:
        graph.close()


def test_shipped_manifests_list_exactly_the_parameters_their_nodes_declare(tmp_path):
    """A module override is checked against its manifest: the manifest must be complete."""
    graph = Graph(tmp_path)
    try:
        manifests, errors = discover([share_dir() / 'modules'])
        assert not errors
        nodes = {n: m for n, m in manifests.items() if m.kind.value == 'node'}
        for name, m in nodes.items():
            graph.run(m.executable, ['-r', f'__node:={m.ros_node_name}',
                                     '-r', f'__ns:={m.namespace}'])
        for name, m in nodes.items():
            node = m.fully_qualified_node_name
            listed = support.wait_for(lambda: graph.probe._call(
                ListParameters, f'{node}/list_parameters', ListParameters.Request(),
                timeout=30).result.names, 30, message=f'parameters of {node}')
            declared = set(listed) - {'use_sim_time', 'start_type_description_service',
                                      'autostart'}
            assert declared == set(m.parameters), (
                name, 'declared, not in the manifest:', declared - set(m.parameters),
                'in the manifest, not declared:', set(m.parameters) - declared)
    finally:
        graph.close()
