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
The kernel's web dashboard: its HTTP rules (tokens, TLS), and the page in a real browser.

The browser is Debian's ``chromium`` driven by Playwright (never a downloaded browser):
``scripts/install-system-deps.sh`` installs it. Screenshots go to the test's tmp dir.
"""

import json
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import live_support
import pytest
import support

from unity_kernel_core.live.dashboard import cookie_name, Dashboard, DashboardApi
from unity_kernel_core.live.gate import Gate
from unity_kernel_core.module_commands import OutcomeStatus

Modules = live_support.StandInSupervisor


def _dashboard(modules, token='s3cret', loopback=True, tls=None):
    gate = Gate(token, bound_host='127.0.0.1' if loopback else '0.0.0.0')
    api = DashboardApi(snapshot=lambda pattern: {'modules': modules.list_modules(),
                                                 'pattern': pattern or ''},
                       camera_jpeg=lambda: None, modules=lambda: modules, gate=gate,
                       period_s=0.05)
    return Dashboard('127.0.0.1', 0, api, tls=tls)


def _request(url, method='GET', token=None, body=None, header=True, context=None,
             headers=None):
    request = urllib.request.Request(url, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header('Authorization', f'Bearer {token}')
    if header and method == 'POST':
        request.add_header('X-Unity-Live', '1')
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_mutating_actions_need_the_token_on_loopback():
    modules = Modules()
    board = _dashboard(modules, token='s3cret', loopback=True)
    try:
        url = board.url
        assert _request(url + 'api/state')[0] == 200  # reading is open on loopback
        code, body = _request(url + 'api/modules/restart', 'POST', body={'name': 'camera'})
        assert code == 401 and b'token' in body
        code, _ = _request(url + 'api/modules/restart', 'POST', token='wrong',
                           body={'name': 'camera'})
        assert code == 401 and modules.calls == []
        code, _ = _request(url + 'api/modules/restart', 'POST', token='s3cret',
                           body={'name': 'camera'}, header=False)
        assert code == 403 and modules.calls == []  # no cross-site form can do this
        code, body = _request(url + 'api/modules/restart', 'POST', token='s3cret',
                              body={'name': 'camera'})
        assert code == 200 and json.loads(body)['success'] is True
        assert modules.calls == [('restart', 'camera')]
        assert _request(url + 'api/modules/explode', 'POST', token='s3cret',
                        body={'name': 'x'})[0] == 404
    finally:
        board.stop()


def test_an_actions_outcome_is_read_back_by_its_id_with_the_token_and_only_its_own():
    modules = Modules(decide=lambda command, arg: (
        OutcomeStatus.REFUSED, f"module '{arg}': is not enabled") if arg == 'haptic' else None)
    board = _dashboard(modules)
    try:
        url, outcome = board.url, board.url + 'api/modules/outcome'
        code, body = _request(url + 'api/modules/restart', 'POST', token='s3cret',
                              body={'name': 'camera'})
        taken = json.loads(body)
        assert code == 200 and taken == {
            'success': True, 'id': taken['id'], 'command': 'restart', 'target': 'camera',
            'status': 'scheduled', 'message': 'restart of camera scheduled'}
        # reading it needs what a command needs: the token and the header
        assert _request(outcome, 'POST', body={'id': taken['id']})[0] == 401
        assert _request(outcome, 'POST', token='s3cret', body={'id': taken['id']},
                        header=False)[0] == 403
        assert _request(outcome, token='s3cret')[0] == 405
        # a reader waits (bounded) for the final word
        later = threading.Timer(0.3, modules.settle,
                                (taken['id'], OutcomeStatus.DONE, 'camera is active'))
        later.start()
        code, body = _request(outcome, 'POST', token='s3cret',
                              body={'id': taken['id'], 'wait_s': 5})
        later.join()
        done = {**taken, 'status': 'done', 'message': 'camera is active'}
        assert code == 200 and json.loads(body) == done
        # refused, with the kernel's reason
        code, body = _request(url + 'api/modules/restart', 'POST', token='s3cret',
                              body={'name': 'haptic'})
        refused = json.loads(body)
        assert code == 400 and (refused['success'], refused['status'], refused['message']) == (
            False, 'refused', "module 'haptic': is not enabled")
        # a command the dashboard did not take (the CLI's, say) is not shown
        others = modules.submit('load', '/home/someone/module')
        code, body = _request(outcome, 'POST', token='s3cret', body={'id': others.command_id})
        assert code == 404 and b'from this server' in body and b'someone' not in body
        for bad in ({}, {'id': 3}, {'id': ''}, {'id': 'x', 'wait_s': 'soon'},
                    {'id': 'x', 'wait_s': True}, ['x']):
            assert _request(outcome, 'POST', token='s3cret', body=bad)[0] == 400, bad
    finally:
        board.stop()


def test_every_request_needs_the_token_off_loopback_and_the_page_moves_it_to_a_cookie(
        unity_log):
    board = _dashboard(Modules(), token='s3cret', loopback=False)
    try:
        url = board.url
        assert _request(url)[0] == 401
        assert _request(url + 'api/state')[0] == 401
        assert _request(url + 'api/stream')[0] == 401
        assert _request(url + 'api/state', token='s3cret')[0] == 200
        # ?token= on the page sets an HttpOnly cookie and redirects to a clean address
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(url + '?token=s3cret', timeout=10)
            raise AssertionError('expected a redirect')
        except urllib.error.HTTPError as exc:
            assert exc.code == 303 and exc.headers['Location'] == '/'
            cookie = exc.headers['Set-Cookie']
        assert 'HttpOnly' in cookie and 'SameSite=Strict' in cookie
        assert cookie.startswith(f'{cookie_name(board.port)}=s3cret;')
        request = urllib.request.Request(url + 'api/state',
                                         headers={'Cookie': cookie.split(';')[0]})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        board.stop()
    assert '/api/state' in unity_log.text  # requests are logged, by path only
    assert 's3cret' not in unity_log.text


def test_a_rebinding_page_or_another_site_cannot_command_modules_even_with_the_cookie():
    modules = Modules()
    board = _dashboard(modules)
    try:
        url = board.url
        cookie = {'Cookie': f'{cookie_name(board.port)}=s3cret'}
        restart = f'{url}api/modules/restart'
        # DNS rebinding: evil.example resolved to 127.0.0.1; the page is on "its own" origin
        rebound = {'Host': f'evil.example:{board.port}',
                   'Origin': f'http://evil.example:{board.port}'}
        code, body = _request(restart, 'POST', body={'name': 'monitor'}, headers=rebound)
        assert code == 403 and b'Host' in body
        assert _request(url + 'api/state', headers={'Host': 'evil.example'})[0] == 403
        # another site's page (the browser sends its Origin), cookie or not
        for origin in ('https://evil.example', f'http://localhost:{board.port}', 'null'):
            code, body = _request(restart, 'POST', body={'name': 'monitor'},
                                  headers={'Origin': origin, **cookie})
            assert code == 403 and b'Origin' in body, origin
        # no token at all: refused, saying where to find it
        code, body = _request(restart, 'POST', body={'name': 'monitor'})
        assert code == 401 and b'unity-kernel' in body
        assert modules.calls == []
        # the dashboard's own page, with its cookie
        code, _ = _request(restart, 'POST', body={'name': 'monitor'},
                           headers={'Origin': url.rstrip('/'), **cookie})
        assert code == 200 and modules.calls == [('restart', 'monitor')]
    finally:
        board.stop()


def test_the_cookie_is_only_ever_set_to_the_servers_own_token():
    board = _dashboard(Modules())
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        for given in ('wrong', 'x\r\nSet-Cookie: evil=1', 's3cret\r\nX: y', 'é', '',
                      's3cret;Path=/evil'):
            query = urllib.parse.urlencode({'token': given})
            try:
                response = opener.open(f'{board.url}?{query}', timeout=10)
                code, headers = response.status, response.headers
            except urllib.error.HTTPError as exc:
                code, headers = exc.code, exc.headers
            assert code == 401 and headers['Set-Cookie'] is None, (given, code)
    finally:
        board.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def test_dashboard_serves_https_with_the_configured_certificate(tmp_path):
    cert, key = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                    '-keyout', str(key), '-out', str(cert)], check=True, capture_output=True)
    board = _dashboard(Modules(), tls=(str(cert), str(key)))
    try:
        assert board.url.startswith('https://')
        context = ssl.create_default_context(cafile=str(cert))
        code, body = _request(board.url + 'api/state', context=context)
        assert code == 200 and json.loads(body)['modules'][0]['name'] == 'camera'
        with pytest.raises(urllib.error.URLError):  # not trusted without the certificate
            _request(board.url + 'api/state', context=ssl.create_default_context())
    finally:
        board.stop()


@pytest.mark.ros
def test_the_state_shows_no_redis_password(processes, ros_env, tmp_path):
    kernel = live_support.start_live_kernel(
        processes, ros_env, tmp_path, [],
        extra="redis: {url: 'redis://robot:hunter2@127.0.0.1:9/0'}\n")
    code, body = _request(kernel.dashboard_url + 'api/state')
    assert code == 200
    state = json.loads(body)
    assert state['kernel']['config']['redis']['url'] == 'redis://robot:***@127.0.0.1:9/0'
    assert 'hunter2' not in body.decode()
    assert 'hunter2' not in kernel.process.output()


# -- the page in a real browser ---------------------------------------------------------------

@pytest.fixture
def browser():
    with live_support.chromium() as instance:
        yield instance


def _nonblank(page, selector):
    """Return the number of distinct colours drawn by an <img> (via a canvas)."""
    return page.evaluate("""(sel) => {
        const img = document.querySelector(sel);
        if (!img || !img.complete || img.naturalWidth === 0) return 0;
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
        return seen.size;
    }""", selector)


def _record_outcomes(page, module):
    """Keep every text the module's outcome cell shows (``_outcomes_seen``)."""
    page.evaluate("""(name) => {
        const cell = document.querySelector(
            `tr[data-module="${name}"] [data-testid="module-outcome"]`);
        window.seen = window.seen || {};
        const seen = window.seen[name] = [];
        new MutationObserver(() => {
            if (seen[seen.length - 1] !== cell.textContent) seen.push(cell.textContent);
        }).observe(cell, {childList: true, characterData: true, subtree: true});
    }""", module)


def _outcomes_seen(page, module):
    return page.evaluate('(name) => window.seen[name]', module)


def _wait_outcome(page, module, text, timeout=60000):
    """Wait for the module's row to show ``text`` as its last action's outcome."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    cell = f'tr[data-module="{module}"] [data-testid="module-outcome"]'
    try:
        page.wait_for_function("""([sel, text]) => document.querySelector(sel)
                                     .textContent === text""", arg=[cell, text], timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f'{module}: the outcome never read {text!r}; it reads '
                             f'{page.inner_text(cell)!r}') from None


def _actions(page, module):
    return page.eval_on_selector_all(f'tr[data-module="{module}"] button[data-action]',
                                     'buttons => buttons.map(b => b.dataset.action)')


@pytest.mark.ros
def test_a_slow_browser_is_shown_the_latest_camera_frame_not_a_queue_of_stale_ones(
        processes, ros_env, tmp_path, browser):
    # frames of random pixels (a 52 kB JPEG each) at 10 Hz, state updates at 5 Hz, a link of
    # 150 kB/s: one frame takes ~0.35 s, so a page that started a download per update would
    # fall further behind with every second; each frame shown must be less than 1 s old
    kernel = live_support.start_live_kernel(
        processes, ros_env, tmp_path, [], live='camera_topic: /sensors/flood/image_raw')
    images = processes.start(
        [sys.executable, str(live_support.NODES / 'image_publisher.py'), '--topic',
         '/sensors/flood/image_raw', '--rate', '10', '--width', '320', '--height', '240',
         '--noise', '--seconds', '60'], ros_env, tmp_path / 'images.log')
    images.wait_output('images: ready', 30)
    page = browser.new_page()
    cdp = page.context.new_cdp_session(page)
    cdp.send('Network.enable')
    cdp.send('Network.emulateNetworkConditions', {
        'offline': False, 'latency': 20, 'downloadThroughput': 150 * 1024,
        'uploadThroughput': 1024 * 1024})
    page.goto(kernel.dashboard_url)
    page.evaluate("""() => {
        window.frameAges = [];
        const img = document.getElementById('camera-img');
        new MutationObserver(() => {
            if (img.dataset.stampNs) {
                const stampMs = Number(img.dataset.stampNs) / 1e6;
                window.frameAges.push(Number(img.dataset.shownMs) - stampMs);
            }
        }).observe(img, {attributes: true, attributeFilter: ['data-shown-ms']});
    }""")
    page.wait_for_function('() => window.frameAges.length >= 20', timeout=60000)
    ages = page.evaluate('() => window.frameAges')
    assert max(ages[3:]) < 1000, [round(a) for a in ages]  # after the first second
    assert _nonblank(page, '#camera-img') > 3
    page.close()


@pytest.mark.ros
@pytest.mark.redis
def test_dashboard_in_a_browser_shows_modules_restarts_one_and_draws_the_camera(
        processes, ros_env, tmp_path, browser):
    enabled = ['heartbeat', 'monitor', 'camera']
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path, enabled)
    # without the token: the page reads, a restart is refused and says where the token is
    reader = browser.new_page()
    reader.goto(kernel.dashboard_url)
    reader.wait_for_selector('tr[data-module="monitor"] button[data-action="restart"]',
                             timeout=60000)
    reader.click('tr[data-module="monitor"] button[data-action="restart"]')
    outcome = 'tr[data-module="monitor"] [data-testid="module-outcome"]'
    reader.wait_for_function(f"""() => document.querySelector('{outcome}').textContent
                                 .includes('refused')""", timeout=10000)
    assert 'missing or wrong token' in reader.inner_text(outcome)
    assert 'unity-kernel' in reader.inner_text(outcome)
    reader.close()
    # the status line's URL: the token moves into a cookie, out of the address bar
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.goto(f'{kernel.dashboard_url}?token={kernel.token}')
    assert page.url == kernel.dashboard_url
    for name in enabled:
        page.wait_for_selector(f'tr[data-module="{name}"] td.state-active', timeout=60000)
    assert page.inner_text('#kernel-state') == 'active'
    # the Foxglove server's address, its clients and what was dropped for them
    page.wait_for_function("""() => document.getElementById('foxglove-url').textContent
                               .includes('0 clients, 0 dropped')""", timeout=10000)
    assert kernel.foxglove_url in page.inner_text('#foxglove-url')

    # the tier counters move (the camera feeds HIGH)
    published = 'tr[data-tier="HIGH"] [data-testid="tier-published"]'
    page.wait_for_selector(published)
    first = int(page.inner_text(published))
    page.wait_for_function(f"""() => parseInt(document.querySelector('{published}')
                               .textContent) > {first}""", timeout=20000)

    # the camera image draws, and is not blank
    page.wait_for_function("""() => { const i = document.getElementById('camera-img');
                               return i.complete && i.naturalWidth > 0; }""", timeout=30000)
    assert _nonblank(page, '#camera-img') > 3
    live_support.screenshot(page, tmp_path, 'dashboard.png')
    page.screenshot(path=str(tmp_path / 'dashboard-full.png'), full_page=True)

    # restart the camera from its button: it leaves ACTIVE and comes back
    row = 'tr[data-module="camera"]'
    _record_outcomes(page, 'camera')
    page.click(f'{row} button[data-action="restart"]')
    page.wait_for_function(f"""() => document.querySelector('{row} [data-testid="module-state"]')
                               .textContent !== 'active' """, timeout=20000)
    page.wait_for_selector(f'{row} td.state-active', timeout=60000)
    # its outcome in the row, the kernel's own: scheduled, then done once it is back
    _wait_outcome(page, 'camera', 'restart: done (camera is active)')
    assert _outcomes_seen(page, 'camera')[:2] == [
        'restart: sending...', 'restart: scheduled (restart of camera scheduled)']

    # recent events, filtered by a topic pattern
    page.fill('#pattern', '/unity_kernel/modules/**')
    page.dispatch_event('#pattern', 'change')
    page.wait_for_function("""() => { const rows = document.querySelectorAll('#events tr');
        return rows.length > 0 && [...rows].every(r => r.cells[2].textContent
            .startsWith('/unity_kernel/modules/')); }""", timeout=20000)

    # dark theme follows the browser
    light = page.evaluate('getComputedStyle(document.body).backgroundColor')
    page.emulate_media(color_scheme='dark')
    dark = page.evaluate('getComputedStyle(document.body).backgroundColor')
    assert light != dark
    page.screenshot(path=str(tmp_path / 'dashboard-dark.png'), full_page=True)
    assert support.wait_for(lambda: kernel.module('camera')['state'] == 'active', 10)


@pytest.mark.ros
@pytest.mark.redis
def test_dashboard_actions_show_the_kernels_outcome_and_enable_and_disable_modules(
        processes, ros_env, tmp_path, browser):
    kernel = live_support.start_live_kernel(processes, ros_env, tmp_path,
                                            ['heartbeat', 'monitor'])
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    thrown = []
    page.on('pageerror', lambda exc: thrown.append(str(exc)))
    page.goto(f'{kernel.dashboard_url}?token={kernel.token}')
    for name in ('heartbeat', 'monitor'):
        page.wait_for_selector(f'tr[data-module="{name}"] td.state-active', timeout=60000)
    # restart only acts on enabled modules; enabling is its own action
    assert _actions(page, 'haptic') == ['enable']
    assert _actions(page, 'monitor') == ['restart', 'disable']
    for name in ('heartbeat', 'monitor'):
        _record_outcomes(page, name)

    # refused, with the kernel's reason (and nothing changed)
    page.click('tr[data-module="heartbeat"] button[data-action="disable"]')
    _wait_outcome(page, 'heartbeat', "disable: refused: module 'heartbeat': still needed by "
                                     'monitor; disable those first')
    assert kernel.module('heartbeat')['state'] == 'active'

    # disable: scheduled, then done once its stop has finished; the row offers enable
    page.click('tr[data-module="monitor"] button[data-action="disable"]')
    _wait_outcome(page, 'monitor', 'disable: done (monitor is stopped (disabled))')
    seen = _outcomes_seen(page, 'monitor')
    assert seen[:2] == ['disable: sending...', 'disable: scheduled (disable of monitor scheduled)']
    assert seen[-1] == 'disable: done (monitor is stopped (disabled))'
    assert not [t for t in seen if 'refused' in t or 'failed' in t], seen
    page.wait_for_function("""() => [...document.querySelectorAll(
        'tr[data-module="monitor"] button[data-action]')].map(b => b.dataset.action)
        .join() === 'enable'""", timeout=10000)
    assert kernel.module('monitor')['state'] == 'stopped'

    # by keyboard: the focus stays in the row when its buttons change; Enter enables it
    assert page.evaluate('document.activeElement.dataset.action') == 'enable'
    assert page.evaluate('document.activeElement.getAttribute("aria-label")') == \
        'enable monitor'
    page.keyboard.press('Enter')
    _wait_outcome(page, 'monitor', 'enable: done (monitor is active)')
    assert support.wait_for(lambda: kernel.module('monitor')['state'] == 'active', 5)
    page.wait_for_function("""() => [...document.querySelectorAll(
        'tr[data-module="monitor"] button[data-action]')].map(b => b.dataset.action)
        .join() === 'restart,disable'""", timeout=10000)

    # restart of an enabled module: done once it is active again
    page.click('tr[data-module="monitor"] button[data-action="restart"]')
    _wait_outcome(page, 'monitor', 'restart: done (monitor is active)')
    page.screenshot(path=str(tmp_path / 'dashboard-actions.png'))
    assert thrown == []
