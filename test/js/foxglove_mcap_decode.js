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

// An MCAP file read as the Foxglove app reads one: @mcap/core's indexed reader (summary,
// chunk and message indexes) with @mcap/support's decompressors (zstd, lz4), each channel
// decoded through foxglove_decode.js; then the whole file once more with the streaming reader
// (every record and CRC, no index).
//   node foxglove_mcap_decode.js FILE
// Prints JSON lines: `header`, one `schema` per schema (parsed or the parser's error), one
// `channel` per channel, `statistics`, one `metadata` per metadata record, one `message` per
// message (the CDR as base64, the decoded message), and `stream` (the streaming reader's
// message count). Exits 0 when the file could be read, 1 otherwise.

const fs = require('fs');
const { McapIndexedReader, McapStreamReader } = require('@mcap/core');
const { loadDecompressHandlers } = require('@mcap/support');
const { readerFor, plain, out, finish } = require('./foxglove_decode');

async function main(file) {
  const handle = await fs.promises.open(file, 'r');
  const readable = {
    size: async () => BigInt((await handle.stat()).size),
    read: async (offset, length) => {
      const buffer = Buffer.alloc(Number(length));
      await handle.read(buffer, 0, Number(length), Number(offset));
      return buffer;
    },
  };
  const decompressHandlers = await loadDecompressHandlers();
  const reader = await McapIndexedReader.Initialize({ readable, decompressHandlers });
  out({ event: 'header', profile: reader.header.profile, library: reader.header.library });
  const schemaErrors = new Map();
  for (const schema of reader.schemasById.values()) {
    try {
      readerFor('cdr', schema.encoding, new TextDecoder().decode(schema.data));
      out({ event: 'schema', name: schema.name, encoding: schema.encoding, ok: true });
    } catch (error) {
      schemaErrors.set(schema.id, String(error));
      out({ event: 'schema', name: schema.name, encoding: schema.encoding, ok: false,
        error: String(error) });
    }
  }
  const readers = new Map();
  for (const channel of reader.channelsById.values()) {
    const schema = reader.schemasById.get(channel.schemaId);
    out({ event: 'channel', topic: channel.topic, messageEncoding: channel.messageEncoding,
      schemaName: schema?.name, metadata: Object.fromEntries(channel.metadata) });
    if (schema !== undefined && !schemaErrors.has(schema.id)) {
      readers.set(channel.id, readerFor(channel.messageEncoding, schema.encoding,
        new TextDecoder().decode(schema.data)));
    }
  }
  const stats = reader.statistics;
  out({ event: 'statistics', messageCount: plain(stats?.messageCount),
    channelMessageCounts: Object.fromEntries(
      [...(stats?.channelMessageCounts ?? [])].map(([id, n]) => [
        reader.channelsById.get(id)?.topic, plain(n)])) });
  for await (const record of reader.readMetadata()) {
    out({ event: 'metadata', name: record.name, metadata: Object.fromEntries(record.metadata) });
  }
  for await (const message of reader.readMessages()) {
    const event = { event: 'message', topic: reader.channelsById.get(message.channelId).topic,
      logTime: message.logTime.toString(), publishTime: message.publishTime.toString(),
      sequence: message.sequence, data: Buffer.from(message.data).toString('base64') };
    try {
      event.decoded = plain(readers.get(message.channelId).readMessage(message.data));
    } catch (error) {
      event.error = String(error);
    }
    out(event);
  }
  await handle.close();

  const stream = new McapStreamReader({ decompressHandlers, validateCrcs: true });
  stream.append(await fs.promises.readFile(file));
  let messages = 0;
  let ended = false;
  for (let record; (record = stream.nextRecord()) !== undefined;) {
    messages += record.type === 'Message' ? 1 : 0;
    ended = ended || record.type === 'Footer';
  }
  out({ event: 'stream', messages, ended: ended && stream.done() });
}

main(process.argv[2]).then(() => finish(0), (error) => {
  out({ event: 'failed', error: String(error && error.stack || error) });
  finish(1);
});
