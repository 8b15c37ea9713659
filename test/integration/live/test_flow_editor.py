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
The dashboard's event-flow editor, live plots and module rows in a real browser.

Debian's ``chromium`` driven by Playwright (never a downloaded browser) against a running
``unity-kernel up``, with real publisher processes: a topic dragged onto CRITICAL and applied
is routed there by the kernel; a schema error shows on its node with ``check-config``'s words
and Apply is refused; undo gives the file back byte for byte; an LLM route attached to a
topic answers it; 40 of 40 presses of 150 ms register while updates stream; the plots draw
and move. The editor's bundle is built by ``make web`` (``scripts/build-web.sh``).
"""

import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request

import live_support
from llm_support import ScriptedServer
import pytest
import support
import yaml

from unity_kernel_core.live import config_edit
from unity_kernel_core.live.webui import APP

TOKEN = 'flow-editor-test-token'


@pytest.fixture(scope='module')
def bundle():
    """Build the editor's bundle when it is not built (what ``make web`` does)."""
    if not (APP / 'flow.js').is_file():
        subprocess.run(['bash', str(support.ROOT / 'scripts' / 'build-web.sh')], check=True,
                       timeout=300)
    if not (APP / 'flow.js').is_file():
        pytest.fail('the editor bundle is not built and cannot be (npm missing?): make web')


@pytest.fixture
def browser(bundle):
    with live_support.chromium() as instance:
        yield instance


def _page(browser, kernel, path, width=1400, height=1000):
    """Open ``path`` of the dashboard with the token handed over as its cookie."""
    page = browser.new_page(viewport={'width': width, 'height': height})
    errors = []
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    page.goto(kernel.dashboard_url + f'?token={TOKEN}')  # sets the cookie, then /
    page.goto(kernel.dashboard_url.rstrip('/') + path)
    page.errors = errors
    return page


def _node(page, node_id):
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def _drag(page, source, target):
    """Drag one node onto another with the mouse, in small steps, as a person does."""
    a = source.bounding_box()
    b = target.bounding_box()
    page.mouse.move(a['x'] + a['width'] / 2, a['y'] + a['height'] / 2)
    page.mouse.down()
    page.mouse.move(a['x'] + a['width'] / 2 + 20, a['y'] + a['height'] / 2 + 5, steps=5)
    page.mouse.move(b['x'] + b['width'] / 2, b['y'] + b['height'] / 2, steps=25)
    page.mouse.up()


def _published(kernel, tier):
    return next(t['published'] for t in kernel.state(TOKEN)['tiers'] if t['tier'] == tier)


def _post(url, body, token=None):
    request = urllib.request.Request(url, method='POST', data=json.dumps(body).encode(),
                                     headers={'X-Unity-Live': '1'})
    if token:
        request.add_header('Authorization', f'Bearer {token}')
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _status(page, text, timeout=30000):
    """Wait for the editor's status line to say ``text``; fail with what it says instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function("""(text) => document.querySelector('[data-testid="status"]')
                                     .textContent.includes(text)""", arg=text, timeout=timeout)
    except PlaywrightTimeout:
        now = page.inner_text('[data-testid="status"]')
        raise AssertionError(f'the status never said {text!r}; it says {now!r} '
                             f'(page errors: {page.errors})') from None


@pytest.mark.ros
@pytest.mark.redis
def test_a_topic_dragged_onto_critical_is_routed_there_errors_show_on_nodes_and_undo_restores(
        processes, ros_env, tmp_path, browser):
    env = {**ros_env, 'UNITY_LIVE_TOKEN': TOKEN}
    kernel = live_support.start_live_kernel(processes, env, tmp_path, ['heartbeat', 'monitor'])
    live_support.start_talker(processes, env, tmp_path, '/robot/bumper', 100000, 20.0)
    original = kernel.config.read_bytes()

    # edits need the token: without it the editor's POSTs are refused
    code, body = _post(kernel.dashboard_url + 'api/flow/check', {'ops': []})
    assert code == 401, body

    page = _page(browser, kernel, '/flows')
    bumper = _node(page, 'topic:/robot/bumper')
    bumper.wait_for(timeout=60000)
    support.wait_for(lambda: _published(kernel, 'NORMAL') > 5, 30, message='NORMAL traffic')
    assert 'NORMAL' in bumper.inner_text()

    # drag the topic onto the CRITICAL tier: a new rule, checked, then applied
    _drag(page, bumper, _node(page, 'tier:CRITICAL'))
    _status(page, '1 change(s), valid')
    assert 'route /robot/bumper to CRITICAL' in page.inner_text('[data-testid="pending"]')
    page.screenshot(path=str(tmp_path / 'flows-pending.png'))
    before = _published(kernel, 'CRITICAL')
    page.click('[data-testid="apply"]')
    _status(page, 'the kernel runs it', timeout=30000)
    written = kernel.config.read_text()
    assert '{pattern: /robot/bumper, tier: CRITICAL}' in written
    assert (tmp_path / 'kernel.yaml.prev').read_bytes() == original
    # the kernel routes it: the publisher's events are counted in CRITICAL, in the page too
    support.wait_for(lambda: _published(kernel, 'CRITICAL') > before + 10, 30,
                     message='/robot/bumper counted in CRITICAL')
    page.wait_for_function("""() => { const n = document.querySelector(
        '.react-flow__node[data-id="tier:CRITICAL"] [data-testid="tier-published"]');
        return n && parseInt(n.textContent.replace(/\\D+/g, '')) > 10; }""", timeout=20000)
    assert 'CRITICAL' in bumper.inner_text()
    live_support.screenshot(page, tmp_path, 'flow-editor.png')

    # a schema error: shown on its node in check-config's words, and Apply refused
    _node(page, 'tier:HIGH').click()
    page.fill('[data-testid="qos-depth"]', '0')
    page.click('[data-testid="qos-set"]')
    issues = _node(page, 'tier:HIGH').locator('[data-testid="node-issues"]')
    issues.wait_for(timeout=20000)
    shown = issues.inner_text().strip()
    assert shown.startswith(f'{kernel.config}:') and \
        shown.endswith('tiers.HIGH.qos.depth: Input should be greater than or equal to 1 (got 0)')
    assert page.is_disabled('[data-testid="apply"]')
    _status(page, '1 problem(s)')
    same_words = _check_config_words(kernel.config, tmp_path, [
        {'op': 'set_qos', 'tier': 'HIGH', 'values': {'depth': 0}}])
    assert shown == same_words
    code, body = _post(kernel.dashboard_url + 'api/flow/apply',
                       {'ops': [{'op': 'set_qos', 'tier': 'HIGH', 'values': {'depth': 0}}]},
                       TOKEN)
    assert code == 422 and body['issues'] == [shown], body
    assert kernel.config.read_text() == written
    live_support.screenshot(page, tmp_path, 'flow-editor-error.png')
    page.click('[data-testid="discard"]')

    # undo: the file exactly as it was, and the kernel back on it
    page.wait_for_selector('[data-testid="undo"]:not([disabled])', timeout=10000)
    page.click('[data-testid="undo"]')
    _status(page, 'the kernel runs it', timeout=30000)
    assert kernel.config.read_bytes() == original
    assert not (tmp_path / 'kernel.yaml.prev').exists()
    page.wait_for_function("""() => document.querySelector(
        '.react-flow__node[data-id="topic:/robot/bumper"]').textContent.includes('NORMAL')""",
                           timeout=20000)
    assert page.errors == [], page.errors


def _check_config_words(config, tmp_path, ops):
    """Return the line ``unity-kernel check-config`` prints for ``ops`` applied to a copy."""
    copy_dir = tmp_path / 'copy'
    copy_dir.mkdir()
    doc = config_edit.load(config.read_text(), False)
    config_edit.apply_ops({'kernel': doc}, config_edit.parse_ops({'ops': ops}))
    copy = copy_dir / 'kernel.yaml'
    copy.write_text(doc.dump())
    out = subprocess.run(live_support.CLI + ['check-config', str(copy)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    line = out.stdout.splitlines()[0]
    assert line.startswith(f'{copy}:'), line
    return str(config) + line[len(str(copy)):]


@pytest.mark.ros
@pytest.mark.redis
def test_an_llm_route_attached_to_a_topic_in_the_editor_answers_it(processes, ros_env,
                                                                   tmp_path, browser):
    model = ScriptedServer(reply='heard you')
    try:
        llm = tmp_path / 'llm.yaml'
        llm.write_text(
            '# the test bridge: one scripted model\n'
            'models:\n'
            f'  scripted: {{api: openai, base_url: "{model.base_url}", model: scripted}}\n'
            'routes:\n'
            '  - name: chat\n'
            '    match: [/llm/chat/**]\n'
            '    models: [scripted]\n')
        env = {**ros_env, 'UNITY_LIVE_TOKEN': TOKEN}
        kernel = live_support.start_live_kernel(
            processes, env, tmp_path, ['heartbeat', 'llm_bridge'],
            modules=f'overrides: {{llm_bridge: {{parameters: {{config_file: {llm}}}}}}}')
        support.wait_for(lambda: kernel.module('llm_bridge')['state'] == 'active', 60,
                         message='the LLM bridge active')
        live_support.start_talker(processes, env, tmp_path, '/robot/voice', 100000, 2.0)

        page = _page(browser, kernel, '/flows')
        _node(page, 'topic:/robot/voice').wait_for(timeout=60000)
        _node(page, 'llm:chat').wait_for(timeout=10000)
        # select the topic (keyboard: focus it, Enter), attach it to the route, apply
        _node(page, 'topic:/robot/voice').focus()
        page.keyboard.press('Enter')
        page.wait_for_selector('[data-testid="attach-llm"]', timeout=10000)
        page.select_option('[data-testid="attach-route"]', 'chat')
        page.click('[data-testid="attach-llm"]')
        _status(page, '1 change(s), valid')
        page.click('[data-testid="apply"]')
        _status(page, 'applied', timeout=30000)
        assert '/robot/voice' in llm.read_text()
        assert llm.read_text().startswith('# the test bridge: one scripted model\n')
        # the bridge restarts on its new routes and answers the topic: the answers' rate
        # climbs in the graph
        page.wait_for_function("""() => { const n = document.querySelector(
            '.react-flow__node[data-id="topic:/llm/response"] [data-testid="topic-rate"]');
            return n && parseFloat(n.textContent) > 0; }""", timeout=90000)
        assert any('/robot/voice' in json.dumps(r) or '"' in json.dumps(r)
                   for r in model.requests), 'the model was never asked'
        assert (page.locator('.react-flow__edge[data-id="topic:/robot/voice->llm:chat"]')
                .count() == 1)
        live_support.screenshot(page, tmp_path, 'flow-editor-llm.png')
        assert page.errors == [], page.errors
    finally:
        model.close()


@pytest.mark.ros
@pytest.mark.redis
def test_every_press_registers_while_updates_stream_and_the_plots_draw_and_move(
        processes, ros_env, tmp_path, browser):
    env = {**ros_env, 'UNITY_LIVE_TOKEN': TOKEN}
    kernel = live_support.start_live_kernel(processes, env, tmp_path, ['heartbeat', 'monitor'])
    page = _page(browser, kernel, '/')
    row = 'tr[data-module="heartbeat"]'
    page.wait_for_selector(f'{row} td.state-active', timeout=60000)
    # the presses are real clicks on the page; the kernel's answer (and the outcome the page
    # then follows) is stubbed so that 40 restarts do not disturb the module (the restart
    # itself is tested in test_dashboard)
    page.route('**/api/modules/**', lambda route: route.fulfill(
        status=200, content_type='application/json',
        body=json.dumps({'success': True, 'id': 'stub-1', 'command': 'restart',
                         'target': 'heartbeat', 'status': 'scheduled',
                         'message': 'restart of heartbeat scheduled'})))
    page.evaluate("""() => {
        window.presses = 0; window.updates = 0;
        document.addEventListener('click', (e) => {
            if (e.target.closest('button[data-action]')) window.presses++; }, true);
        source.addEventListener('state', () => { window.updates++; });
    }""")
    button = page.locator(f'{row} button[data-action="restart"]')
    for _ in range(40):
        box = button.bounding_box()
        page.mouse.move(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
        page.mouse.down()
        time.sleep(0.15)
        page.mouse.up()
        time.sleep(0.05)
    assert page.evaluate('window.updates') >= 20  # updates streamed during the presses
    assert page.evaluate('window.presses') == 40
    page.wait_for_function(f"""() => document.querySelector('{row} [data-testid="module-outcome"]')
        .textContent.startsWith('restart: scheduled')""", timeout=10000)

    # keyboard: Tab reaches the button, Enter presses it
    button.focus()
    page.keyboard.press('Enter')
    support.wait_for(lambda: page.evaluate('window.presses') == 41, 5, message='Enter press')

    # the plots: drawn (not blank), and moving
    canvas = '[data-testid="plot-tier-events"] canvas'
    page.wait_for_selector(canvas, timeout=30000)
    support.wait_for(lambda: _colours(page, canvas) > 3, 30, message='a non-blank plot')
    first = _digest(page, canvas)
    support.wait_for(lambda: _digest(page, canvas) != first, 20, message='the plot moving')
    page.set_viewport_size({'width': 800, 'height': 1000})
    assert page.evaluate('document.documentElement.scrollWidth') <= 800  # readable at 800 px
    time.sleep(1.0)
    live_support.screenshot(page.locator('#plots-section'), tmp_path, 'live-plots.png')
    assert page.errors == [], page.errors


@pytest.mark.ros
@pytest.mark.redis
def test_a_module_switched_off_and_on_in_the_editor_follows_with_each_commands_outcome(
        processes, ros_env, tmp_path, browser):
    env = {**ros_env, 'UNITY_LIVE_TOKEN': TOKEN}
    kernel = live_support.start_live_kernel(processes, env, tmp_path, ['heartbeat', 'monitor'])
    page = _page(browser, kernel, '/flows')
    monitor = _node(page, 'module:monitor')
    monitor.wait_for(timeout=60000)
    support.wait_for(lambda: kernel.module('monitor')['state'] == 'active', 60,
                     message='monitor active')
    outcome = '[data-testid="module-outcomes"] li[data-module="monitor"]'

    def switch(enabled, words):
        monitor.click()
        box = page.locator('[data-testid="module-enabled"]')
        box.wait_for(timeout=10000)
        assert box.is_checked() is not enabled
        box.click()  # checked from the edit's preview once it is checked
        _status(page, '1 change(s), valid')
        assert box.is_checked() is enabled
        page.click('[data-testid="apply"]')
        # the command's outcome, followed to the end (the command or the file's reload may
        # reach the supervisor first: the other finds it done or on its way)
        page.wait_for_function("""([sel, words]) => { const li = document.querySelector(sel);
            return li && words.includes(li.textContent); }""", arg=[outcome, words],
                               timeout=60000)
        _status(page, 'the kernel runs it', timeout=30000)

    switch(False, ['disable monitor: done (monitor is stopped (disabled))',
                   'disable monitor: done (monitor is not enabled (stopped))'])
    assert _enabled(kernel) == ['heartbeat']
    time.sleep(1.0)  # the reload that follows leaves it down
    assert support.wait_for(lambda: kernel.module('monitor')['state'] == 'stopped', 5)
    switch(True, ['enable monitor: done (monitor is active)',
                  'enable monitor: done (monitor is already enabled (active))'])
    assert _enabled(kernel) == ['heartbeat', 'monitor']
    time.sleep(1.0)
    assert support.wait_for(lambda: kernel.module('monitor')['state'] == 'active', 5)
    assert page.errors == [], page.errors


def _enabled(kernel):
    return yaml.safe_load(kernel.config.read_text())['modules']['enabled']


def _colours(page, selector):
    return page.evaluate("""(sel) => { const c = document.querySelector(sel);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 7) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
        return seen.size; }""", selector)


def _digest(page, selector):
    data = page.evaluate("""(sel) => document.querySelector(sel).toDataURL()""", selector)
    return hashlib.sha256(data.encode()).hexdigest()
