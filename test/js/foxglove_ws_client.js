// Copyright 2026 UnityKernel contributors
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// The official Foxglove protocol client (@foxglove/ws-protocol, on `ws`) against our server:
// node foxglove_ws_client.js URL TOPIC COUNT. Prints one JSON line per event (serverInfo,
// the channel, each message as base64) and exits 0 after COUNT messages, 1 on a timeout.
// NODE_PATH points at the npm install of package.json (the foxglove_js fixture, test/js_support.py).

const { FoxgloveClient } = require('@foxglove/ws-protocol');
const WebSocket = require('ws');

const [url, topic, countText] = process.argv.slice(2);
const wanted = Number(countText || '3');
const ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
const client = new FoxgloveClient({ ws });
let received = 0;
const out = (event) => process.stdout.write(JSON.stringify(event) + '\n');

setTimeout(() => { out({ event: 'timeout', received }); process.exit(1); }, 30000);
client.on('error', (error) => out({ event: 'error', message: String(error) }));
client.on('serverInfo', (info) => out({ event: 'serverInfo', name: info.name,
  capabilities: info.capabilities, protocol: ws.protocol }));
client.on('advertise', (channels) => {
  for (const channel of channels) {
    if (channel.topic === topic) {
      out({ event: 'channel', channel });
      client.subscribe(channel.id);
    }
  }
});
client.on('message', ({ data }) => {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  out({ event: 'message', data: bytes.toString('base64') });
  received += 1;
  if (received >= wanted) { client.close(); process.exit(0); }
});
