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

"""The Foxglove WebSocket server of a running ``unity-kernel up``, seen by a protocol client."""

import base64
import json
import struct
import subprocess
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from foxglove_client import FoxgloveClient, slow_client, SlowReader
import live_support
import pytest
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import String
import support

from unity_kernel_core.ros import msgdef

pytestmark = [pytest.mark.ros, pytest.mark.redis]


def _wait_restarted(client, name, timeout=40):
    """Poll modules/list until ``name`` left ACTIVE and came back."""
    left = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        modules = client.call_service('/unity_kernel/modules/list', {})['modules']
        state = next(m['state'] for m in modules if m['name'] == name)
        if state != 'active':
            left = True
        elif left:
            return
        time.sleep(0.05)
    raise AssertionError(f'{name} did not leave ACTIVE and come back within {timeout} s')


def _follow(client, taken, timeout=40):
    """Ask the outcome service for a command's outcome until it is final; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.call_service('/unity_kernel/modules/outcome', {'id': taken['id']})
        if answer.get('status') != 'scheduled':
            return answer
        time.sleep(0.1)
    raise AssertionError(f'{taken} still scheduled after {timeout} s')


def test_mapped_topics_are_advertised_with_ros2msg_schemas_and_forward_decodable_cdr(
        processes, ros_env, tmp_path):
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path,
                                            ['heartbeat', 'camera'])
    live_support.start_talker(processes, ros_env, tmp_path, '/live_test/chatter', 100000, 50)
    client = FoxgloveClient(kernel.owner_url)  # the status line's URL: with this start's token
    try:
        assert {'services', 'parameters', 'connectionGraph'} <= set(
            client.server_info['capabilities'])
        assert 'clientPublish' not in client.server_info['capabilities']
        client.wait(lambda: {'/live_test/chatter', '/sensors/camera/image_raw'}
                    <= set(client.channels), 30, 'the test topic and the camera advertised')
        for topic, type_name in (('/live_test/chatter', 'std_msgs/msg/String'),
                                 ('/sensors/camera/image_raw', 'sensor_msgs/msg/Image')):
            channel = client.channels[topic]
            assert channel['encoding'] == 'cdr'
            assert channel['schemaEncoding'] == 'ros2msg'
            assert channel['schemaName'] == type_name
            assert channel['schema'] == msgdef.full_definition(type_name)

        chatter = client.subscribe('/live_test/chatter')
        camera = client.subscribe('/sensors/camera/image_raw')
        client.wait(lambda: client.counts.get(chatter, 0) >= 30, 20, '30 chatter messages')
        client.wait(lambda: client.counts.get(camera, 0) >= 2, 20, '2 camera frames')
        values = [int(deserialize_message(p, String).data)
                  for _t, _l, p in client.messages[chatter][:30]]
        assert values == list(range(values[0], values[0] + 30)), values
        image = deserialize_message(client.messages[camera][-1][2], Image)
        assert (image.width, image.height, image.encoding) == (320, 240, 'rgb8')
        assert len(image.data) == 320 * 240 * 3 and max(image.data) > 0

        # the kernel's state as JSON channels
        modules_sub = client.subscribe('/unity_kernel/live/modules')
        client.wait(lambda: client.counts.get(modules_sub, 0) >= 1, 10, 'modules state')
        state = json.loads(client.messages[modules_sub][-1][2])
        assert {m['name']: m['state'] for m in state['modules']}['camera'] == 'active'

        # services: list and restart (a module comes back, its outcome read back by its
        # id), and a clear refusal
        taken = client.call_service('/unity_kernel/modules/restart', {'name': 'camera'})
        assert taken == {'success': True, 'id': taken['id'], 'command': 'restart',
                         'target': 'camera', 'status': 'scheduled',
                         'message': 'restart of camera scheduled'}
        _wait_restarted(client, 'camera')
        assert _follow(client, taken) == {**taken, 'status': 'done',
                                          'message': 'camera is active'}
        answer = client.call_service('/unity_kernel/modules/restart', {'name': 'nope'})
        assert (answer['success'], answer['status']) == (False, 'refused')
        assert "no module named 'nope'" in answer['message']
        answer = client.call_service('/unity_kernel/modules/outcome', {'id': 'x-1'})
        assert answer['success'] is False and 'from this server' in answer['message']
        # without this start's token (none is configured): reading only, outcomes included
        anonymous = FoxgloveClient(kernel.foxglove_url)
        try:
            answer = anonymous.call_service('/unity_kernel/modules/restart', {'name': 'camera'})
            assert answer['success'] is False and 'missing or wrong token' in answer['message']
            answer = anonymous.call_service('/unity_kernel/modules/outcome', {'id': taken['id']})
            assert answer['success'] is False and 'missing or wrong token' in answer['message']
        finally:
            anonymous.close()

        # parameters: read; a write is validated as ros2 param set would
        values = client.request_json({'op': 'getParameters', 'parameterNames': [], 'id': 'a'},
                                     'parameterValues')
        params = {p['name']: p['value'] for p in values['parameters']}
        assert params['spawn_modules'] is True and 'config_file' in params
        answer = client.request_json(
            {'op': 'setParameters', 'parameters': [{'name': 'spawn_modules', 'value': 'x'}],
             'id': 'b'}, 'parameterValues')
        assert answer['parameters'] == [{'name': 'spawn_modules', 'value': True}]
        # ROS's own parameters are read-only here: use_sim_time would stop /diagnostics
        answer = client.request_json(
            {'op': 'setParameters', 'parameters': [{'name': 'use_sim_time', 'value': True}],
             'id': 'c'}, 'parameterValues')
        assert answer['parameters'] == [{'name': 'use_sim_time', 'value': False}]
        assert any('use_sim_time' in m.get('message', '') and 'read-only' in m['message']
                   for m in client.json_log if m.get('op') == 'status')

        # connection graph: the talker publishes the test topic
        client._send({'op': 'subscribeConnectionGraph'})
        published = client.wait(lambda: next((
            {t['name']: t['publisherIds'] for t in m['publishedTopics']}
            for m in client.json_log if m.get('op') == 'connectionGraphUpdate'
            and any(t['name'] == '/live_test/chatter' for t in m.get('publishedTopics', []))),
            None), 10, 'a connection graph with the test topic')
        assert '/talker' in published['/live_test/chatter']

        # the shipped Foxglove layout names only topics and services this server offers
        layout = json.loads((support.ROOT / 'config' / 'foxglove-layout.json').read_text())
        topics, services = _layout_references(layout)
        client.wait(lambda: topics <= set(client.channels), 20,
                    f'every layout topic advertised: {topics - set(client.channels)}')
        assert services <= set(client.services)
        diagnostics = client.subscribe('/diagnostics')

        def diagnostic_names():
            return {s.name for _t, _l, p in client.messages.get(diagnostics, [])
                    for s in deserialize_message(p, DiagnosticArray).status}
        client.wait(lambda: 'unity_kernel: kernel' in diagnostic_names(), 20,
                    "the kernel's status on /diagnostics")

        # a topic the kernel stops mapping (hot reload excludes it) is withdrawn
        text = kernel.config.read_text()
        kernel.config.write_text(text + 'exclude: [/rosout, /parameter_events, /diagnostics, '
                                 '/unity_kernel/**, /**/transition_event, /live_test/**]\n')
        client.wait(lambda: '/live_test/chatter' in client.withdrawn, 20,
                    '/live_test/chatter withdrawn')
        assert '/sensors/camera/image_raw' in client.channels
    finally:
        client.close()


def test_a_slow_client_stops_neither_the_fast_client_nor_ingest_and_critical_gets_through(
        processes, ros_env, tmp_path):
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, ['heartbeat'])
    images = processes.start(
        [sys.executable, str(live_support.NODES / 'image_publisher.py'), '--topic',
         '/sensors/flood/image_raw', '--rate', '30', '--width', '320', '--height', '240',
         '--seconds', '60'], ros_env,
        tmp_path / 'images.log')
    images.wait_output('images: ready', 30)
    fast = FoxgloveClient(kernel.foxglove_url, keep_payloads=False)
    slow = None
    try:
        flood = fast.subscribe('/sensors/flood/image_raw')

        def window(seconds):
            high0 = _tier(kernel, 'HIGH')['published']
            got0 = fast.counts.get(flood, 0)
            time.sleep(seconds)
            return (fast.counts.get(flood, 0) - got0) / seconds, \
                (_tier(kernel, 'HIGH')['published'] - high0) / seconds

        fast.wait(lambda: fast.counts.get(flood, 0) >= 10, 20, 'first images')
        # first alone, then with a slow client subscribed to the same images (it never reads);
        # what that costs in frames/s is measured by bench/bench_live.py (slow_client_cost)
        alone, ingest_alone = window(3)
        assert alone > 0 and ingest_alone > 0, (alone, ingest_alone)
        slow = slow_client(kernel.foxglove_url, ['/sensors/flood/image_raw'], fast.channels)
        time.sleep(1.0)  # its queue fills
        with_slow, ingest_with_slow = window(6)
        # the kernel keeps ingesting and the fast client keeps receiving while the slow one
        # is stuck
        assert ingest_with_slow > 0 and with_slow > 0, (with_slow, ingest_with_slow)

        # CRITICAL: every message reaches the client that is flooded with images
        live_support.start_talker(processes, ros_env, tmp_path, '/safety/estop', 100, 20)
        estop = fast.subscribe('/safety/estop', timeout=30)
        fast.keep_payloads = True
        fast.wait(lambda: fast.counts.get(estop, 0) >= 100, 30, '100 CRITICAL messages')
        values = sorted(int(deserialize_message(p, String).data)
                        for _t, _l, p in fast.messages[estop])
        assert values == list(range(100))
        assert fast.counts[flood] > 100
    finally:
        if slow is not None:
            slow.close()
        fast.close()


def test_one_slow_client_of_images_and_a_critical_topic_gets_every_critical_message_first(
        processes, ros_env, tmp_path):
    # one client, subscribed to an image flood and to a CRITICAL topic, reads ~640 kB/s (a
    # fraction of the 6.9 MB/s of images) with a per-tier backlog of 4: its image queue is
    # full the whole time, yet no CRITICAL message may be dropped or wait behind queued frames
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, ['heartbeat'],
                                            live='client_backlog: 4')
    images = processes.start(
        [sys.executable, str(live_support.NODES / 'image_publisher.py'), '--topic',
         '/sensors/flood/image_raw', '--rate', '30', '--width', '320', '--height', '240',
         '--seconds', '90'], ros_env, tmp_path / 'images.log')
    images.wait_output('images: ready', 30)
    watcher = FoxgloveClient(kernel.foxglove_url, keep_payloads=False)
    live_support.start_talker(processes, ros_env, tmp_path, '/safety/estop', 200, 20)
    watcher.wait(lambda: {'/sensors/flood/image_raw', '/safety/estop'} <= set(watcher.channels),
                 30, 'the images and /safety/estop advertised')
    reader = SlowReader(kernel.foxglove_url, ['/sensors/flood/image_raw', '/safety/estop'],
                        watcher.channels, chunk=65536, pause=0.1)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                reader.messages['/safety/estop'] and int(deserialize_message(
                    reader.messages['/safety/estop'][-1][2], String).data) == 199):
            time.sleep(0.2)
        estops = reader.messages['/safety/estop']
        values = [int(deserialize_message(p, String).data) for _a, _l, p in estops]
        # every CRITICAL message since it subscribed arrived, in order, none dropped for this
        # slow client (it subscribes within the first seconds of the 10 s of messages) ...
        assert values == list(range(values[0] if values else 0, 200)) and len(values) >= 150, \
            values
        # ... while its images were dropped (its backlog was full: the condition under test)
        assert reader.count('/sensors/flood/image_raw') < 0.5 * len(values) * 30 / 20, \
            reader.count('/sensors/flood/image_raw')
        client = max(kernel.state()['live']['clients'], key=lambda c: c['subscriptions'])
        assert client['dropped'].get('HIGH', 0) > 20 and 'CRITICAL' not in client['dropped'], \
            client
        # ... and each one was sent before the images published after it: at most the one frame
        # already being written (and one in the socket buffers) arrives ahead of it
        for position, (topic, stamp) in enumerate(reader.order):
            if topic != '/safety/estop':
                continue
            overtaken = [s for t, s in reader.order[:position]
                         if t == '/sensors/flood/image_raw' and s > stamp]
            assert len(overtaken) <= 2, (position, stamp, overtaken)
    finally:
        reader.close()
        watcher.close()


def test_the_official_foxglove_client_subscribes_and_decodes_the_cdr(
        processes, ros_env, tmp_path, foxglove_js):
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, [])
    live_support.start_talker(processes, ros_env, tmp_path, '/live_test/chatter', 100000, 50)
    script = support.ROOT / 'test' / 'js' / 'foxglove_ws_client.js'
    result = subprocess.run(['node', str(script), kernel.foxglove_url, '/live_test/chatter',
                             '5'], capture_output=True, text=True, timeout=60,
                            env=dict(ros_env, NODE_PATH=str(foxglove_js.modules)))
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, (result.stdout, result.stderr)
    info = next(e for e in events if e['event'] == 'serverInfo')
    assert info['protocol'] == 'foxglove.websocket.v1' and info['name'] == 'unity_kernel'
    channel = next(e['channel'] for e in events if e['event'] == 'channel')
    assert (channel['encoding'], channel['schemaEncoding'], channel['schemaName']) == \
        ('cdr', 'ros2msg', 'std_msgs/msg/String')
    values = [int(deserialize_message(base64.b64decode(e['data']), String).data)
              for e in events if e['event'] == 'message']
    assert len(values) == 5 and values == list(range(values[0], values[0] + 5)), values


def _layout_references(layout):
    """Return the topics and services a Foxglove layout's panels refer to."""
    topics, services = set(), set()
    for panel_id, config in layout['configById'].items():
        for key in ('topicPath', 'topicToRender'):
            if key in config:
                topics.add(config[key].split('.')[0])
        if 'imageMode' in config:
            topics.add(config['imageMode']['imageTopic'])
        for path in config.get('paths', []):
            topics.add(path['value'].split('.')[0])
        if 'serviceName' in config:
            services.add(config['serviceName'])

    def panels(node):
        if isinstance(node, str):
            return {node}
        return panels(node['first']) | panels(node['second'])
    assert panels(layout['layout']) == set(layout['configById'])
    return topics, services


def _tier(kernel, name):
    return next(t for t in kernel.state()['tiers'] if t['tier'] == name)


def test_live_view_off_in_config_opens_no_ports(processes, ros_env, tmp_path):
    port = support.free_port()
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{state_dir: {tmp_path / "state"}}}\nredis: {{enabled: false}}\n'
                      f'live: {{enabled: false}}\n')
    env = dict(ros_env, UNITY_KERNEL__LIVE__FOXGLOVE_PORT=str(port))
    up = processes.start(live_support.CLI + ['up', '--config', str(config)], env,
                         tmp_path / 'up.log')
    out = up.wait_output('Ctrl-C to stop', 60)
    status = next(line for line in out.splitlines() if 'Ctrl-C to stop' in line)
    assert 'live view' not in status and 'Foxglove' not in status
    import socket
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', port), timeout=2).close()


def test_client_publishing_reaches_ros_only_on_allow_listed_topics_and_never_safety(
        processes, ros_env, tmp_path, probe):
    kernel = live_support.start_live_kernel(
        processes, ros_env, tmp_path, [],
        live="client_publish: true, publish_allow: ['/live_cmd/**', '/safety/**']")
    received = probe.collect('/live_cmd/say', String)
    safety = probe.collect('/safety/stop', String)
    diagnostics = probe.collect('/diagnostics', DiagnosticArray)
    client = FoxgloveClient(kernel.owner_url)
    try:
        assert 'clientPublish' in client.server_info['capabilities']
        client._send({'op': 'advertise', 'channels': [
            {'id': 1, 'topic': '/live_cmd/say', 'encoding': 'cdr',
             'schemaName': 'std_msgs/msg/String'},
            {'id': 2, 'topic': '/safety/stop', 'encoding': 'cdr',
             'schemaName': 'std_msgs/msg/String'},
            {'id': 3, 'topic': '/elsewhere', 'encoding': 'cdr',
             'schemaName': 'std_msgs/msg/String'}]})
        client.wait(lambda: sum('refused' in m.get('message', '') for m in client.json_log
                                if m.get('op') == 'status') >= 2, 10, 'two refusals')
        refusals = ' '.join(m['message'] for m in client.json_log if m.get('op') == 'status')
        assert '/safety/stop' in refusals and 'publish_allow_safety' in refusals
        assert '/elsewhere' in refusals and 'not in live.publish_allow' in refusals

        from rclpy.serialization import serialize_message
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            for channel_id, text in ((1, 'hello'), (2, 'stop!')):
                client.ws.send(struct.pack('<BI', 0x01, channel_id)
                               + serialize_message(String(data=text)))
            time.sleep(0.2)
        assert received and received[0].data == 'hello'
        time.sleep(1.0)
        assert not safety

        def refused_publish():  # the refusals are counted on the live view's /diagnostics
            return max((int(v.value) for array in list(diagnostics) for s in array.status
                        if s.name.endswith(': live view') for v in s.values
                        if v.key == 'refused_publish'), default=0)
        support.wait_for(lambda: refused_publish() >= 2, 20,
                         message='refused_publish >= 2 on /diagnostics')
    finally:
        client.close()


def test_a_live_view_port_in_use_is_an_error_on_diagnostics_not_a_dead_kernel(
        processes, ros_env, tmp_path):
    import socket
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        env = dict(ros_env, UNITY_KERNEL__LIVE__DASHBOARD_PORT=str(port))
        kernel = live_support.start_live_kernel(processes, env, tmp_path, [],
                                                expect_dashboard=False)
        status = next(line for line in kernel.process.output().splitlines()
                      if 'Ctrl-C to stop' in line)
        assert 'active' in status and 'live view: Foxglove ws://' in status
        assert '1 error(s)' in status and 'dashboard http' not in status
        assert f'dashboard not started on 127.0.0.1:{port}' in kernel.process.output()
        client = FoxgloveClient(kernel.foxglove_url)  # the Foxglove side still serves
        client.close()
    finally:
        taken.close()


def test_a_configured_token_guards_mutating_calls_on_the_websocket(processes, ros_env, tmp_path):
    env = dict(ros_env, UNITY_LIVE_TOKEN='s3cret')
    kernel = live_support.start_live_kernel(processes, env, tmp_path, ['heartbeat'])
    assert kernel.token is None  # a configured token is never printed
    anonymous = FoxgloveClient(kernel.foxglove_url)  # loopback: reading is open
    wrong = FoxgloveClient(kernel.foxglove_url + '/?token=wrong')
    owner = FoxgloveClient(kernel.foxglove_url + '/?token=s3cret')
    try:
        listed = anonymous.call_service('/unity_kernel/modules/list', {})
        assert listed['success'] is True
        for client in (anonymous, wrong):
            answer = client.call_service('/unity_kernel/modules/restart', {'name': 'heartbeat'})
            assert answer['success'] is False and 'missing or wrong token' in answer['message']
        answer = anonymous.request_json(
            {'op': 'setParameters', 'parameters': [{'name': 'spawn_modules', 'value': False}],
             'id': 'a'}, 'parameterValues')
        assert answer['parameters'] == [{'name': 'spawn_modules', 'value': True}]
        answer = owner.call_service('/unity_kernel/modules/restart', {'name': 'heartbeat'})
        assert (answer['success'], answer['status'], answer['message']) == (
            True, 'scheduled', 'restart of heartbeat scheduled')
        assert 's3cret' not in kernel.process.output()
    finally:
        for client in (anonymous, wrong, owner):
            client.close()


def test_tls_serves_wss_and_https_with_the_configured_certificate(processes, ros_env, tmp_path):
    import ssl
    import subprocess
    import urllib.request
    cert, key = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                    '-keyout', str(key), '-out', str(cert)], check=True, capture_output=True)
    kernel = live_support.start_live_kernel(
        processes, ros_env, tmp_path, [], live=f'tls_cert_file: {cert}, tls_key_file: {key}')
    assert kernel.foxglove_url.startswith('wss://')
    assert kernel.dashboard_url.startswith('https://')
    context = ssl.create_default_context(cafile=str(cert))
    client = FoxgloveClient(kernel.foxglove_url, ssl=context)
    try:
        assert client.server_info['name'] == 'unity_kernel'
    finally:
        client.close()
    with urllib.request.urlopen(kernel.dashboard_url + 'api/state', timeout=10,
                                context=context) as response:
        assert json.loads(response.read())['kernel']['state'] == 'active'


def test_the_official_client_reads_freely_but_mutates_only_with_the_token_and_allowed_origins(
        processes, ros_env, tmp_path, foxglove_js):
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, ['heartbeat'])

    def run(url, **plan):
        result = foxglove_js.run('foxglove_live_access.js', [url, json.dumps(plan)], 60)
        assert result.returncode == 0, (result.events[-5:], result.stderr[-2000:])
        return result

    # the status line's URL: restarts, but ROS's own parameters stay read-only; a subscription
    # id of 2**32 is refused with a reason and the connection serves on
    owner = run(kernel.owner_url, restart='heartbeat', follow=True, badSubscription=True,
                parameters=[{'name': 'use_sim_time', 'value': True}])
    taken, *asked = [e['response'] for e in owner.of('service')]
    assert taken == {'success': True, 'id': taken['id'], 'command': 'restart',
                     'target': 'heartbeat', 'status': 'scheduled',
                     'message': 'restart of heartbeat scheduled'}
    assert asked[-1] == {**taken, 'status': 'done', 'message': 'heartbeat is active'}
    assert owner.of('parameterValues')[0]['parameters'] == [
        {'name': 'use_sim_time', 'value': False}]
    statuses = [e['message'] for e in owner.of('status')]
    assert any('use_sim_time' in m and 'read-only' in m for m in statuses), statuses
    assert any('from 0 to 4294967295' in m for m in statuses), statuses
    assert owner.of('message')
    # the address without the token: reading only
    anonymous = run(kernel.foxglove_url, restart='heartbeat')
    assert anonymous.of('service')[0]['failure'].endswith('missing or wrong token')
    # a page of another site cannot connect; "null" (the desktop app) only with the token
    assert run(kernel.foxglove_url, origin='https://evil.example').of('refused') == [
        {'event': 'refused', 'status': 403}]
    assert run(kernel.foxglove_url, origin='null').of('refused') == [
        {'event': 'refused', 'status': 401}]
    desktop = run(kernel.owner_url, origin='null', restart='heartbeat')
    assert desktop.of('service')[0]['response']['success'] is True
    web_app = run(kernel.foxglove_url, origin='https://app.foxglove.dev')
    assert web_app.of('serverInfo') and not web_app.of('refused')


def test_a_slow_client_gets_the_latest_camera_frame_not_a_queue_of_stale_ones(
        processes, ros_env, tmp_path):
    # a client reading ~640 kB/s, a 30 Hz flood of 230 kB frames (6.9 MB/s): it can take ~3
    # frames a second; each must be one published less than 1 s before it arrived
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, ['heartbeat'])
    images = processes.start(
        [sys.executable, str(live_support.NODES / 'image_publisher.py'), '--topic',
         '/sensors/flood/image_raw', '--rate', '30', '--width', '320', '--height', '240',
         '--seconds', '60'], ros_env, tmp_path / 'images.log')
    images.wait_output('images: ready', 30)
    watcher = FoxgloveClient(kernel.foxglove_url, keep_payloads=False)
    watcher.wait(lambda: '/sensors/flood/image_raw' in watcher.channels, 30, 'the images')
    reader = SlowReader(kernel.foxglove_url, ['/sensors/flood/image_raw'], watcher.channels,
                        chunk=65536, pause=0.1)
    wall_minus_monotonic = time.time_ns() - time.monotonic_ns()
    try:
        reader_wait = time.monotonic() + 40
        while reader.count('/sensors/flood/image_raw') < 25 and time.monotonic() < reader_wait:
            time.sleep(0.2)
        frames = reader.messages['/sensors/flood/image_raw']
        assert len(frames) >= 25, len(frames)
        ages = [(arrival * 1e9 + wall_minus_monotonic - stamp) / 1e9
                for arrival, stamp, _payload in frames[5:]]  # after the first second
        assert max(ages) < 1.0, [round(a, 2) for a in ages]
        client = max(kernel.state()['live']['clients'], key=lambda c: c['subscriptions'])
        assert client['dropped'].get('HIGH', 0) > 50, client  # the frames it never needed
    finally:
        reader.close()
        watcher.close()
