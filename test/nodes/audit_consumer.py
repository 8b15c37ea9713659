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
Test consumer: handle audit-trail entries through a consumer group, one line per entry.

``python test/nodes/audit_consumer.py --url URL --group G --name C --out FILE --delay 0.01``
appends ``<entry id> <data>`` to FILE for each handled entry (before it is acknowledged),
sleeping ``--delay`` seconds in the handler, until killed.
"""

import argparse
import signal
import sys

from rclpy.serialization import deserialize_message
import redis
from std_msgs.msg import String

from unity_kernel_core.audit.consumer import AuditConsumer
from unity_kernel_core.audit.record import StreamKeys


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--url', required=True)
    parser.add_argument('--group', required=True)
    parser.add_argument('--name', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--pattern', default='/**')
    parser.add_argument('--delay', type=float, default=0.0)
    parser.add_argument('--claim-idle-ms', type=int, default=30000)
    parser.add_argument('--batch', type=int, default=20)
    args = parser.parse_args(argv)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    consumer = AuditConsumer(redis.Redis.from_url(args.url), StreamKeys('unity'), args.group,
                             args.name, args.pattern, claim_idle_ms=args.claim_idle_ms,
                             batch=args.batch, block_ms=100)
    import time
    with open(args.out, 'a') as out:
        def handle(record):
            time.sleep(args.delay)
            out.write(f'{record.entry_id} {deserialize_message(record.cdr, String).data}\n')
            out.flush()
        print('consumer: ready', flush=True)
        try:
            consumer.run(handle, lambda: bool(stop))
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
