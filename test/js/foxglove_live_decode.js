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

// A Foxglove client made of Foxglove's own libraries (@foxglove/ws-protocol on `ws`, then
// foxglove_decode.js) against a live view:
//   node foxglove_live_decode.js URL '{"/topic": COUNT, ...}' [SECONDS]
// Every advertised ros2msg channel's schema is parsed (one `schema` line each, with the
// parser's error if it fails); the named topics are subscribed and COUNT messages of each
// decoded (one `message` line each: the CDR as base64 and the decoded message). Exits 0 once
// every count is reached, 1 on timeout. NODE_PATH points at the npm install of package.json.

const { FoxgloveClient } = require('@foxglove/ws-protocol');
const WebSocket = require('ws');
const { readerFor, plain, out, finish } = require('./foxglove_decode');

const [url, wantedText, secondsText] = process.argv.slice(2);
const wanted = JSON.parse(wantedText);
const counts = Object.fromEntries(Object.keys(wanted).map((t) => [t, 0]));
const ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
const client = new FoxgloveClient({ ws });
const bySubscription = new Map();
const seen = new Set();

setTimeout(() => {
  out({ event: 'timeout', counts });
  finish(1);
}, 1000 * Number(secondsText || '60'));

function done() {
  return Object.entries(wanted).every(([t, n]) => counts[t] >= n);
}

client.on('error', (error) => out({ event: 'error', message: String(error) }));
client.on('advertise', (channels) => {
  for (const channel of channels) {
    if (seen.has(channel.id)) {
      continue;
    }
    seen.add(channel.id);
    let reader;
    try {
      reader = readerFor(channel.encoding, channel.schemaEncoding, channel.schema);
      out({ event: 'schema', topic: channel.topic, schemaName: channel.schemaName,
        schemaEncoding: channel.schemaEncoding, ok: true });
    } catch (error) {
      out({ event: 'schema', topic: channel.topic, schemaName: channel.schemaName,
        schemaEncoding: channel.schemaEncoding, ok: false, error: String(error) });
      continue;
    }
    if (channel.topic in wanted) {
      bySubscription.set(client.subscribe(channel.id), { topic: channel.topic, reader });
    }
  }
});
client.on('message', ({ subscriptionId, data }) => {
  const channel = bySubscription.get(subscriptionId);
  if (channel === undefined || counts[channel.topic] >= wanted[channel.topic]) {
    return;
  }
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const event = { event: 'message', topic: channel.topic, data: bytes.toString('base64') };
  try {
    event.decoded = plain(channel.reader.readMessage(data));
  } catch (error) {
    event.error = String(error);
  }
  out(event);
  counts[channel.topic] += 1;
  if (done()) {
    client.close();
    finish(0);
  }
});
