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

"""Dead letters: a handler that keeps failing puts events in the stream; dlq list/retry/drop."""

import sys
import threading

import kernel_support
import pytest
import redis
import support


pytestmark = [pytest.mark.ros, pytest.mark.redis]


def test_failing_handler_dead_letters_are_listed_retried_and_dropped(
        rclpy_context, ros_env, tmp_path, processes, redis_server):
    config = tmp_path / 'kernel.yaml'
    config.write_text(f'kernel: {{discovery_period_s: 0.2, state_dir: {tmp_path}}}\n'
                      f'redis: {{url: "{redis_server.url}", flush_interval_ms: 2}}\n'
                      'tiers: {NORMAL: {max_retries: 1, retry_backoff_ms: 1}}\n')
    broken = threading.Event()
    broken.set()
    handled = []

    def handler(event):
        if broken.is_set():
            raise RuntimeError(f'cannot handle {event.message.data}')
        handled.append(event.message.data)

    def on_active(n):
        n.bus.subscribe('/work', handler, name='flaky_handler')

    client = redis.Redis.from_url(redis_server.url)
    with kernel_support.active_kernel(config, rclpy_context, on_active):
        processes.start([sys.executable, str(support.ROOT / 'test' / 'nodes' / 'talker.py'),
                         '--topic', '/work', '--count', '3', '--rate', '50'], ros_env,
                        tmp_path / 'talker.log').wait_output('talker: done', 30)
        support.wait_for(lambda: client.xlen('unity:deadletters') == 3, 10,
                         message='3 dead letters')
        listing = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'list')
        assert listing.returncode == 0, listing.stderr
        rows = listing.stdout.splitlines()[1:]
        assert len(rows) == 3
        assert all('/work' in r and 'flaky_handler' in r and 'RuntimeError: cannot handle' in r
                   and ' 2 ' in r for r in rows)
        ids = [r.split()[0] for r in rows]

        broken.clear()
        retried = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'retry', ids[1])
        assert retried.returncode == 0, retried.stderr
        assert 'retried 1 dead letter(s), dropped 1' in retried.stdout
        support.wait_for(lambda: handled == ['1'], 10, message='the retried event handled')
        assert [i.decode() for i, _f in client.xrange('unity:deadletters')] == [ids[0], ids[2]]

        missing = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'retry', '1-999')
        assert missing.returncode == 2 and 'no dead letter 1-999' in missing.stderr
        dropped = support.cli(ros_env, 'dlq', '--url', redis_server.url, 'drop', '--all')
        assert 'dropped 2 dead letter(s)' in dropped.stdout
        assert client.xlen('unity:deadletters') == 0
