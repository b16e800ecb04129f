'use strict';

// Clients that misbehave at the HTTP layer, through raw sockets where no HTTP client would
// send what they send (BEHAVIOUR.md §8): bodies too large or never finished, many of them at
// once, `Connection: close`, an absolute-form request target, an upload abandoned halfway.
const net = require('node:net');
const { startUpstream } = require('../helpers/upstream');
const { initializeLine } = require('../helpers/stdio-pipe');
const { startHttpServer, connectHttp, rawRequest } = require('../helpers/server');
const { MAX_BODY_BYTES, MAX_BODY_BYTES_IN_FLIGHT } = require('../../src/server/http-server');

const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: null });
const OK_LINE = '{"status": "success", "message": "ok", "details": null}';
const INITIALIZE = initializeLine('2025-06-18', 1);
const FIND_TOOLS_BODY = JSON.stringify({ agent_id: 'agent-raw', query: 'q' });
const MCP_HEADERS = 'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n';
// Not timing assertions: how long a raw exchange may take before it counts as unanswered.
const ANSWER_WAIT_MS = 5000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let upstream;
let server;
let port;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    if (req.method === 'GET') return res.end('[{"name": "find_tools", "id": "tool-ft"}]');
    return res.end(OK_BODY);
  });
  server = await startHttpServer({
    TOOLS_API_BASE_URL: upstream.url,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: upstream.url,
    LOG_FORMAT: 'json',
  });
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  const exit = await server?.stop();
  await upstream?.close();
  expect(exit).toEqual({ code: 0, signal: null });
});

/**
 * A raw connection to the server. write(bytes); answered(test) resolves to everything received
 * once test(text) holds or the server closes (at most ANSWER_WAIT_MS); closed() once the server
 * has closed its side.
 */
function connect() {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  let ended = false;
  const waiters = new Set();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => {
    text += chunk;
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    ended = true;
    wake();
  });
  const waitFor = (done) =>
    new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(text);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        resolve(text);
      }, ANSWER_WAIT_MS);
      waiters.add(check);
      check();
    });
  return {
    socket,
    write: (bytes) => socket.write(bytes),
    answered: (test = (received) => /\r\n\r\n/.test(received)) => waitFor(() => ended || test(text)),
    closed: () => waitFor(() => ended).then(() => ended),
    destroy: () => socket.destroy(),
  };
}

const head = (target, headers = '') => `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${MCP_HEADERS}${headers}`;
const statusOf = (response) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
const headerOf = (response, name) => new RegExp(`^${name}: (.*)$`, 'im').exec(response.split('\r\n\r\n')[0])?.[1];

/** The log lines at warning or error level so far (the server logs JSON lines). */
const complaints = () =>
  server
    .stderr()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((line) => line.level !== 'info');

// The error each route answers with: /mcp a JSON-RPC error, /find_tools the worker's JSON error.
const TOO_LARGE = {
  '/mcp': { jsonrpc: '2.0', id: null, error: { code: -32000 } },
  '/find_tools': { error: expect.any(String) },
};
const isChunked = (response) => /^transfer-encoding: chunked$/im.test(response.split('\r\n\r\n')[0]);

/** Whether a raw response holds all of its body, sent with a Content-Length or in chunks. */
function hasWholeBody(received) {
  const start = received.indexOf('\r\n\r\n') + 4;
  if (start < 4) return false;
  if (isChunked(received)) return received.endsWith('\r\n0\r\n\r\n');
  return Buffer.byteLength(received.slice(start)) >= Number(headerOf(received, 'content-length'));
}

/** The JSON body of a whole raw response (an ASCII body: chunk sizes count characters here). */
function jsonBodyOf(response) {
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  if (!isChunked(response)) return JSON.parse(body);
  let text = '';
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf('\r\n', at);
    const size = Number.parseInt(body.slice(at, lineEnd), 16);
    if (!(size > 0)) break;
    text += body.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
  return JSON.parse(text);
}

describe.each(['/mcp', '/find_tools'])('bodies on %s are bounded', (route) => {
  test('a Content-Length over the limit is refused with 413 before any of the body is sent', async () => {
    const client = connect();
    client.write(`${head(route, `Content-Length: ${MAX_BODY_BYTES + 1}\r\n`)}\r\n`);
    const response = await client.answered(hasWholeBody);
    client.destroy();
    expect(statusOf(response)).toBe(413);
    expect(headerOf(response, 'connection')).toBe('close');
    expect(jsonBodyOf(response)).toMatchObject(TOO_LARGE[route]);
  });

  test('a chunked body is refused with 413 once it passes the limit, without waiting for its end', async () => {
    const client = connect();
    client.write(`${head(route, 'Transfer-Encoding: chunked\r\n')}\r\n`);
    const chunk = 'x'.repeat(64 * 1024);
    for (let sent = 0; sent <= MAX_BODY_BYTES; sent += chunk.length) client.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const response = await client.answered(hasWholeBody);
    client.destroy();
    expect(statusOf(response)).toBe(413);
    expect(jsonBodyOf(response)).toMatchObject(TOO_LARGE[route]);
  });
});

test('bodies in flight are bounded all together: past the bound a request is refused with 503, served again once they end', async () => {
  // Each holder announces the largest body and sends one byte of it; 100-continue says its
  // request has reached the server's handler.
  const holders = [];
  for (let held = 0; held < MAX_BODY_BYTES_IN_FLIGHT; held += MAX_BODY_BYTES) {
    const holder = connect();
    holder.write(`${head('/mcp', `Content-Length: ${MAX_BODY_BYTES}\r\nExpect: 100-continue\r\n`)}\r\n{`);
    holders.push(holder);
  }
  try {
    const continued = await Promise.all(holders.map((holder) => holder.answered()));
    expect(continued.map(statusOf)).toEqual(holders.map(() => 100));

    const refused = await rawRequest(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: INITIALIZE,
    });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(JSON.parse(refused.text)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
    const refusedWorker = await rawRequest(`${server.url}/find_tools`, { method: 'POST', body: FIND_TOOLS_BODY });
    expect(refusedWorker.status).toBe(503);
  } finally {
    for (const holder of holders) holder.destroy();
  }
  await Promise.all(holders.map((holder) => holder.closed()));
  const session = await connectHttp(server.url, { 'x-agent-id': 'agent-after' });
  try {
    expect(await session.call({ query: 'served again' })).toBe(OK_LINE);
  } finally {
    await session.close();
  }
});

describe('Connection: close (RFC 9112 §9.6)', () => {
  test.each([
    ['a 2025-era initialize on /mcp', '/mcp', INITIALIZE],
    [
      'a 2025-era tools/call on /mcp',
      '/mcp',
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'find_tools', arguments: JSON.parse(FIND_TOOLS_BODY) } }),
    ],
    ['POST /find_tools', '/find_tools', FIND_TOOLS_BODY],
  ])('%s: answered, then the connection is closed', async (_, route, body) => {
    const client = connect();
    client.write(`${head(route, `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`)}\r\n${body}`);
    const closed = await client.closed();
    const response = await client.answered();
    client.destroy();
    expect(statusOf(response)).toBe(200);
    expect(headerOf(response, 'connection')).toBe('close');
    expect(closed).toBe(true);
  });
});

describe('an absolute-form request target (RFC 9112 §3.2.2)', () => {
  const absolute = (authority, route, body) =>
    `POST http://${authority}${route} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${MCP_HEADERS}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

  test.each([
    ['/find_tools', FIND_TOOLS_BODY, OK_LINE],
    ['/mcp', INITIALIZE, '"serverInfo"'],
  ])('naming this server, %s is served', async (route, body, expected) => {
    const client = connect();
    client.write(absolute(`127.0.0.1:${port}`, route, body));
    await client.closed();
    const response = await client.answered();
    expect(statusOf(response)).toBe(200);
    expect(response).toContain(expected);
  });

  test.each(['/find_tools', '/mcp', '/health'])('naming another host, %s is refused as a foreign Host is', async (route) => {
    const client = connect();
    client.write(absolute('rebound.example', route, FIND_TOOLS_BODY));
    await client.closed();
    expect(statusOf(await client.answered())).toBe(403);
  });

  test('a target that is not http is a 400, not a 500', async () => {
    const client = connect();
    client.write(absolute('127.0.0.1', '/mcp', INITIALIZE).replace('POST http://', 'POST ftp://'));
    await client.closed();
    expect(statusOf(await client.answered())).toBe(400);
  });

  afterAll(() => {
    expect(complaints()).toEqual([]);
  });
});

test.each(['/find_tools', '/mcp'])('a client that stops mid-upload on %s is no server error: nothing is logged', async (route) => {
  const before = complaints().length;
  for (let i = 0; i < 5; i += 1) {
    const client = connect();
    client.write(`${head(route, 'Content-Length: 1000\r\n')}\r\n{"query": "half`);
    // The server sees the end of the upload and closes its side: the request is over for it.
    client.socket.end();
    expect(await client.closed()).toBe(true);
  }
  // A later call's own line comes after anything the abandoned uploads made the server write.
  const callLines = () => server.stderr().split('"find_tools call"').length;
  const callsBefore = callLines();
  expect((await rawRequest(`${server.url}/find_tools`, { method: 'POST', body: FIND_TOOLS_BODY })).status).toBe(200);
  for (let tries = 0; tries < 250 && callLines() === callsBefore; tries += 1) await sleep(20);
  expect(callLines()).toBe(callsBefore + 1);
  expect(complaints().slice(before)).toEqual([]);
});
