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

// How the Foxglove and Lichtblick apps decode a `cdr` channel with a `ros2msg` schema: the
// schema text parsed by @foxglove/rosmsg (ROS 2 grammar), a MessageReader of
// @foxglove/rosmsg2-serialization built from it. Shared by foxglove_live_decode.js and
// foxglove_mcap_decode.js; `plain` turns a decoded message into JSON the Python tests compare.

const { parse } = require('@foxglove/rosmsg');
const { MessageReader } = require('@foxglove/rosmsg2-serialization');

// Return a MessageReader for a channel, or throw the parser's own error.
function readerFor(messageEncoding, schemaEncoding, schemaText) {
  if (messageEncoding !== 'cdr' || schemaEncoding !== 'ros2msg') {
    throw new Error(`not a ROS 2 channel: ${messageEncoding} / ${schemaEncoding}`);
  }
  return new MessageReader(parse(schemaText, { ros2: true }));
}

// A decoded value as JSON: integer arrays and bigints as numbers (a bigint beyond 2^53 as
// its decimal text), typed arrays as plain arrays.
function plain(value) {
  if (typeof value === 'bigint') {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (ArrayBuffer.isView(value)) {
    return Array.from(value, plain);
  }
  if (Array.isArray(value)) {
    return value.map(plain);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

const out = (event) => process.stdout.write(JSON.stringify(event) + '\n');

// Exit once everything printed has reached the pipe (process.exit alone may cut it off).
function finish(code) {
  process.stdout.write('', () => process.exit(code));
}

module.exports = { readerFor, plain, out, finish };
