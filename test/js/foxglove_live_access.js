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

// The official Foxglove client (@foxglove/ws-protocol on `ws`) trying what the live view's
// access rules are about:
//   node foxglove_live_access.js URL '{"origin": ..., "restart": NAME, "follow": true,
//                                     "parameters": [...], "badSubscription": true}'
// `origin` is sent as the Origin header (none by default: `ws` sends none, as under Node the
// official client does); `restart` calls /unity_kernel/modules/restart, and with `follow`
// /unity_kernel/modules/outcome with its id until the outcome is final; `parameters` sends
// setParameters; `badSubscription` subscribes with the id 2**32 on the first channel, then
// with a good id. Prints one JSON line per event (`refused` with the HTTP status of a refused
// handshake, `serverInfo`, `service`, `parameterValues`, `status`, `message`) and exits 0
// when every step is done (or the handshake was refused), 1 on a timeout.
// NODE_PATH points at the npm install of package.json.

const { FoxgloveClient } = require('@foxglove/ws-protocol');
const WebSocket = require('ws');

const [url, planText] = process.argv.slice(2);
const plan = JSON.parse(planText || '{}');
const out = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const options = plan.origin ? { origin: plan.origin } : {};
const ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL], options);
const client = new FoxgloveClient({ ws });
const services = new Map();
const channels = [];
const waiting = [];

setTimeout(() => { out({ event: 'timeout' }); process.exit(1); }, 30000);

ws.on('unexpected-response', (_request, response) => {
  out({ event: 'refused', status: response.statusCode });
  process.exit(0);
});
client.on('error', (error) => out({ event: 'error', message: String(error) }));
client.on('serverInfo', (info) => out({ event: 'serverInfo', capabilities: info.capabilities }));
client.on('status', (status) => {
  out({ event: 'status', level: status.level, message: status.message });
  settle('status', status);
});
client.on('advertise', (list) => { channels.push(...list); maybeStart(); });
client.on('advertiseServices', (list) => {
  for (const service of list) { services.set(service.name, service); }
  maybeStart();
});
client.on('serviceCallResponse', (response) => {
  const text = new TextDecoder().decode(response.data);
  out({ event: 'service', response: JSON.parse(text) });
  settle('service', response);
});
client.on('serviceCallFailure', (failure) => {
  out({ event: 'service', failure: failure.message });
  settle('service', failure);
});
client.on('parameterValues', (values) => {
  out({ event: 'parameterValues', id: values.id, parameters: values.parameters });
  settle('parameterValues', values);
});
client.on('message', ({ subscriptionId }) => {
  out({ event: 'message', subscriptionId });
  settle('message', subscriptionId);
});

function json(response) {  // a service's answer (null for a failure)
  return response.data ? JSON.parse(new TextDecoder().decode(response.data)) : null;
}

function settle(kind, value) {
  const index = waiting.findIndex((w) => w.kind === kind);
  if (index >= 0) { waiting.splice(index, 1)[0].resolve(value); }
}

function next(kind) {
  return new Promise((resolve) => waiting.push({ kind, resolve }));
}

let started = false;
function maybeStart() {
  if (started || services.size === 0 || channels.length === 0) { return; }
  started = true;
  run().then(() => { client.close(); process.exit(0); });
}

async function run() {
  if (plan.restart) {
    const service = services.get('/unity_kernel/modules/restart');
    client.sendServiceCallRequest({ serviceId: service.id, callId: 1, encoding: 'json',
      data: new TextEncoder().encode(JSON.stringify({ name: plan.restart })) });
    let answer = json(await next('service'));
    const outcome = services.get('/unity_kernel/modules/outcome');
    const id = answer && answer.id;
    for (let call = 2; plan.follow && id && answer && answer.status === 'scheduled'; call++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      client.sendServiceCallRequest({ serviceId: outcome.id, callId: call, encoding: 'json',
        data: new TextEncoder().encode(JSON.stringify({ id })) });
      answer = json(await next('service'));
    }
  }
  if (plan.parameters) {
    client.setParameters(plan.parameters, 'set');
    await next('parameterValues');
  }
  if (plan.badSubscription) {
    const channel = channels.find((c) => c.topic === '/unity_kernel/live/kernel') || channels[0];
    ws.send(JSON.stringify({ op: 'subscribe',
      subscriptions: [{ id: 2 ** 32, channelId: channel.id }] }));
    await next('status');
    client.subscribe(channel.id);
    await next('message');
  }
}
