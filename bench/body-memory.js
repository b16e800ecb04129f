'use strict';

// `npm run bench:bodies`: the HTTP server's RSS under clients that hold request bodies
// (SECURITY.md, "Memory"). Each attack runs against a fresh server whose Letta API and Tool
// Selector accept connections and never answer, so every call that gets in stays in flight:
// - unfinished: each connection announces a body and sends all of it but the last byte;
// - chunked: each sends chunks up to the size and never the last one;
// - in-flight calls: each sends a complete 2025-era tools/call of the size.
// Prints one line per attack: RSS before and after, and the statuses of the answers that reached
// the clients (a client still sending when the server closes may lose its answer to a reset).

const net = require('node:net');
const path = require('node:path');
const { startHttpServer } = require('./lib/server-process');
const { processRssBytes } = require('./lib/proc');

const SERVER = path.join(__dirname, '..', 'src', 'index.js');
const MIB = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
// How long the server gets to take in what it was sent before its RSS is read.
const SETTLE_MS = 6000;
const ATTACKS = [
  ['unfinished', 100, 4 * MIB],
  ['unfinished', 100, MIB],
  ['unfinished', 600, MIB],
  ['chunked', 600, MIB],
  ['in-flight calls', 100, MIB],
  ['in-flight calls', 600, MIB],
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const megabytes = (bytes) => (bytes / 1e6).toFixed(0);

function requestHead(port, headers) {
  return `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${headers}\r\n`;
}

/** What one attacking connection sends, before it goes quiet. */
function attackBytes(kind, port, bytes, index) {
  if (kind === 'unfinished') return [requestHead(port, `Content-Length: ${bytes}\r\n`), Buffer.alloc(bytes - 1, 0x20)];
  if (kind === 'chunked') {
    const chunk = `${CHUNK_BYTES.toString(16)}\r\n${' '.repeat(CHUNK_BYTES)}\r\n`;
    return [requestHead(port, 'Transfer-Encoding: chunked\r\n'), chunk.repeat(bytes / CHUNK_BYTES - 1)];
  }
  const call = (query) =>
    JSON.stringify({ jsonrpc: '2.0', id: index, method: 'tools/call', params: { name: 'find_tools', arguments: { agent_id: `agent-${index}`, query } } });
  const body = call('q'.repeat(bytes - call('').length));
  return [requestHead(port, `Content-Length: ${body.length}\r\nMCP-Protocol-Version: 2025-06-18\r\n`), body];
}

async function attack(kind, connections, bytes, upstreamUrl) {
  const { child, url } = await startHttpServer([SERVER], {
    PATH: process.env.PATH,
    TOOLS_API_BASE_URL: upstreamUrl,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: `${upstreamUrl}/v1`,
    TOOLS_API_TIMEOUT: '120',
  });
  const port = Number(url.port);
  const statuses = {};
  const sockets = [];
  try {
    await sleep(1000);
    const before = processRssBytes(child.pid);
    for (let index = 0; index < connections; index += 1) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.once('data', (data) => {
        const status = /^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? 'other';
        statuses[status] = (statuses[status] ?? 0) + 1;
      });
      sockets.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
      for (const part of attackBytes(kind, port, bytes, index)) socket.write(part);
    }
    await sleep(SETTLE_MS);
    const after = processRssBytes(child.pid);
    const shown = Object.entries(statuses).map(([status, count]) => `${count}× ${status}`);
    console.log(
      `${kind}, ${connections} × ${bytes / MIB} MiB: RSS ${megabytes(before)} → ${megabytes(after)} MB; answered: ${shown.join(', ') || 'nothing'}`,
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    child.kill('SIGKILL');
  }
}

async function main() {
  // Accepts every connection and never answers.
  const silent = net.createServer(() => {});
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    for (const [kind, connections, bytes] of ATTACKS) await attack(kind, connections, bytes, `http://127.0.0.1:${silent.address().port}`);
  } finally {
    silent.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
