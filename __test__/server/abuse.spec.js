'use strict';

// The MCP server under abuse (Streamable HTTP, and stdio where it applies): malformed JSON-RPC,
// a body at the limit, unknown tools and methods, 100 concurrent clients, clients that
// disconnect mid-call or stall, hostile agent ids. After each, the server keeps serving the
// others. Bodies over the limit: http-clients.spec.js; secrets: secrets.spec.js.
const http = require('node:http');
const net = require('node:net');
const { startScriptedUpstream, agentToolsPath, SCRIPTED_OK_LINE } = require('../helpers/upstream');
const { startHttpServer, connectHttp, spawnServer, rawRequest, postMcp, MCP_HEADERS } = require('../helpers/server');
const { initializeLine } = require('../helpers/stdio-pipe');

const PROTOCOL = '2025-06-18';
const INITIALIZE = initializeLine(PROTOCOL, 1);
const INVALID_FORMAT = 'Error in find_tools: Invalid agent ID format: ';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The JSON-RPC messages of a response, whether it came as JSON or as an SSE stream. */
function messagesOf(response) {
  if (!response.text) return [];
  if ((response.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    return response.text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)));
  }
  const body = JSON.parse(response.text);
  return Array.isArray(body) ? body : [body];
}

let upstream;
let server;
let env;

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  env = upstream.serverEnv;
  server = await startHttpServer(env);
});

afterAll(async () => {
  const exit = await server.stop();
  await upstream.close();
  expect(exit).toEqual({ code: 0, signal: null });
});

beforeEach(() => {
  upstream.requests.length = 0;
});

// After every test the server still answers a real client's call and its health is "healthy".
afterEach(async () => {
  const session = await connectHttp(server.url, { 'x-agent-id': 'agent-after' });
  try {
    expect(await session.call({ query: 'still serving?' })).toBe(SCRIPTED_OK_LINE);
  } finally {
    await session.close();
  }
  const health = await rawRequest(`${server.url}/health`);
  expect(health.status).toBe(200);
  expect(JSON.parse(health.text).status).toBe('healthy');
});

// A 2025-era client speaking raw HTTP. The server is stateless: after its initialize, each
// request stands alone, with the protocol version header and no session id.
async function openRawClient() {
  const init = await postMcp(server.url, INITIALIZE);
  expect(init.status).toBe(200);
  expect(init.headers['mcp-session-id']).toBeUndefined();
  const headers = { ...MCP_HEADERS, 'mcp-protocol-version': PROTOCOL };
  return {
    headers,
    send: (message) => postMcp(server.url, typeof message === 'string' ? message : JSON.stringify(message), headers),
  };
}

describe('malformed JSON-RPC', () => {
  const deep = `${'['.repeat(100000)}${']'.repeat(100000)}`;
  const bodies = [
    ['an empty body', ''],
    ['whitespace', ' \n '],
    ['a lone brace', '{'],
    ['null', 'null'],
    ['a string', '"initialize"'],
    ['a number', '42'],
    ['true', 'true'],
    ['an array of numbers', '[1, 2, 3]'],
    ['an object without a method', '{"jsonrpc": "2.0", "id": 1}'],
    ['JSON-RPC 1.0', '{"jsonrpc": "1.0", "id": 1, "method": "initialize"}'],
    ['an object id', '{"jsonrpc": "2.0", "id": {"a": 1}, "method": "initialize", "params": {}}'],
    ['a method that is not a string', '{"jsonrpc": "2.0", "id": 1, "method": 7}'],
    ['params that are a string', '{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": "x"}'],
    ['a __proto__ key', '{"__proto__": {"jsonrpc": "2.0", "method": "initialize"}, "id": 1}'],
    ['100,000 nested arrays', deep],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['a byte-order mark', `\ufeff${INITIALIZE.slice(0, -1)}`],
    ['a NUL byte', '{"jsonrpc": "2.0", "id": 1, "method": "init\u0000ialize"}'],
  ];

  test.each(bodies)('%s gets a 4xx JSON-RPC error', async (_what, body) => {
    const response = await postMcp(server.url, body);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    const [message] = messagesOf(response);
    expect(message).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
  });

  test('other methods and content types on /mcp are refused', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const response = await rawRequest(`${server.url}/mcp`, { method, headers: MCP_HEADERS });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
    }
    const wrongType = await rawRequest(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Accept: 'text/html' },
      body: INITIALIZE,
    });
    expect(wrongType.status).toBeGreaterThanOrEqual(400);
    expect(wrongType.status).toBeLessThan(500);
  });

  test('unknown methods and tools, malformed params, odd arguments', async () => {
    const session = await openRawClient();
    const call = (id, params) => session.send({ jsonrpc: '2.0', id, method: 'tools/call', params });
    const answers = {
      unknownMethod: await session.send({ jsonrpc: '2.0', id: 10, method: 'resources/explode', params: {} }),
      prompts: await session.send({ jsonrpc: '2.0', id: 11, method: 'prompts/get', params: { name: 'x' } }),
      unknownTool: await call(12, { name: 'drop_all_tools', arguments: {} }),
      noName: await call(13, { arguments: {} }),
      stringArguments: await call(14, { name: 'find_tools', arguments: 'agent_id=x' }),
      noParams: await session.send({ jsonrpc: '2.0', id: 15, method: 'tools/call' }),
      oddArguments: await call(16, {
        name: 'find_tools',
        arguments: {
          agent_id: 'agent-odd',
          query: { nested: ['q'] },
          keep_tools: [1, null, {}, 'a', ['b']],
          limit: { $gt: 1 },
          min_score: [],
          request_heartbeat: 5,
          __proto__: { polluted: true },
          extra: 'ignored',
        },
      }),
      notification: await session.send({ jsonrpc: '2.0', method: 'notifications/whatever', params: {} }),
      parseError: await session.send('{"jsonrpc": "2.0", "id": 17, "method": "tools/call", "params": {'),
    };
    const first = (name) => messagesOf(answers[name])[0];
    expect(first('unknownMethod')).toMatchObject({ id: 10, error: { code: -32601 } });
    expect(first('prompts')).toMatchObject({ id: 11, error: { code: -32601 } });
    expect(first('unknownTool')).toMatchObject({ id: 12, error: { message: expect.stringContaining('drop_all_tools') } });
    for (const name of ['noName', 'stringArguments', 'noParams']) {
      const message = first(name);
      expect(message.error ?? message.result).toBeDefined();
    }
    expect(first('oddArguments')).toMatchObject({ id: 16, result: { content: [{ type: 'text', text: SCRIPTED_OK_LINE }] } });
    expect(answers.notification.status).toBe(202);
    expect(answers.parseError.status).toBe(400);
    // Only the odd-arguments call reached the upstream; the others were refused before it.
    const attaches = upstream.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body));
    expect(attaches).toHaveLength(1);
    expect(attaches[0]).toMatchObject({ agent_id: 'agent-odd', limit: 10, min_score: 50.0, request_heartbeat: false });
    expect(attaches[0].keep_tools).toEqual(['tool-ft', '1', 'a']);
    expect({}.polluted).toBeUndefined();
  });
});

describe('a request body at the limit', () => {
  test('a tools/call just under the 1 MiB body limit is served', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': 'agent-big' });
    try {
      const query = 'q'.repeat(1024 * 1024 - 4096);
      expect(await session.call({ query })).toBe(SCRIPTED_OK_LINE);
      const [attach] = upstream.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body));
      expect(attach.query).toBe(query);
    } finally {
      await session.close();
    }
  });
});

describe('many clients', () => {
  test('100 concurrent clients each get their own answers', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 100 }, (_, i) => connectHttp(server.url, { 'x-agent-id': `agent-${i}` })),
    );
    try {
      const texts = await Promise.all(sessions.map((session, i) => session.call({ query: `q-${i}` })));
      expect(texts).toEqual(Array(100).fill(SCRIPTED_OK_LINE));
      const agentOf = Object.fromEntries(
        upstream.requests.filter((r) => r.method === 'POST').map((r) => [JSON.parse(r.body).query, JSON.parse(r.body).agent_id]),
      );
      for (let i = 0; i < 100; i += 1) expect(agentOf[`q-${i}`]).toBe(`agent-${i}`);
    } finally {
      await Promise.all(sessions.map((session) => session.close()));
    }
  });

  test('clients that disconnect mid-call, or stall, do not disturb the others', async () => {
    const session = await openRawClient();
    // Twenty calls whose clients hang up while the upstream is still working on them (400 ms).
    const dropped = Array.from(
      { length: 20 },
      (_, i) =>
        new Promise((resolve) => {
          const req = http.request(`${server.url}/mcp`, { method: 'POST', headers: session.headers, agent: false });
          req.on('error', () => resolve());
          req.on('close', () => resolve());
          req.end(
            JSON.stringify({
              jsonrpc: '2.0',
              id: 100 + i,
              method: 'tools/call',
              params: { name: 'find_tools', arguments: { agent_id: 'agent-drop', query: `slow-${i}` } },
            }),
          );
          // Hang up once the upstream has the call (or after 5 s, whichever comes first).
          const started = Date.now();
          const reached = () => upstream.requests.some((r) => r.method === 'POST' && r.body.includes(`"slow-${i}"`));
          const hangUp = () => (reached() || Date.now() - started > 5000 ? req.destroy() : setTimeout(hangUp, 10));
          hangUp();
        }),
    );
    // Sockets that send half a request and stall, or send nothing at all.
    const port = Number(new URL(server.url).port);
    const stalled = Array.from({ length: 20 }, (_, i) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      const half = 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"';
      if (i % 2 === 0) socket.write(half);
      return socket;
    });
    const other = await connectHttp(server.url, { 'x-agent-id': 'agent-other' });
    try {
      const texts = await Promise.all(Array.from({ length: 10 }, (_, i) => other.call({ query: `fine-${i}` })));
      expect(texts).toEqual(Array(10).fill(SCRIPTED_OK_LINE));
      await Promise.all(dropped);
      // They were mid-call: the server had passed every one of them on to the upstream.
      expect(upstream.requests.filter((r) => r.method === 'POST' && r.body.includes('"query": "slow-'))).toHaveLength(20);
      // Every abandoned call ends (answered or cancelled); nothing stays in flight.
      let health;
      for (let tries = 0; tries < 100; tries += 1) {
        health = JSON.parse((await rawRequest(`${server.url}/health`)).text);
        if (health.inFlight === 0) break;
        await sleep(50);
      }
      expect(health.inFlight).toBe(0);
      expect(health.stats.inFlight).toBe(0);
    } finally {
      for (const socket of stalled) socket.destroy();
      await other.close();
    }
  });
});

describe('hostile agent ids at the MCP layer', () => {
  const HOSTILE = [
    '../../tools?x=1#',
    '%2F..%2F',
    '..',
    'agent\r\nX-Injected: 1',
    'agent\u0000',
    'agent id',
    'café',
    'агент',
    '😀',
    'agent/../../admin',
    `a${'-'.repeat(10 * 1024)}?`,
  ];

  test('as the agent_id argument: refused with the legacy text, nothing sent upstream', async () => {
    const session = await connectHttp(server.url);
    try {
      for (const agentId of HOSTILE) {
        expect(await session.call({ agent_id: agentId, query: 'q' })).toBe(`${INVALID_FORMAT}${agentId.trim()}`);
      }
      expect(upstream.requests).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test('as the x-agent-id header: refused, or the request itself is refused by the HTTP parser', async () => {
    for (const agentId of HOSTILE.filter((id) => /^[\x21-\x7e ]+$/.test(id))) {
      const session = await connectHttp(server.url, { 'x-agent-id': agentId });
      try {
        const text = await session.call({ query: 'q' });
        expect(text.startsWith(INVALID_FORMAT)).toBe(true);
      } finally {
        await session.close();
      }
    }
    // Bytes no HTTP client library would send: CR in a value, NUL, raw UTF-8, obs-fold.
    const port = Number(new URL(server.url).port);
    const rawValues = ['agent\rX: 1', 'agent\u0000', 'агент', 'a\r\n b'].map((text) => Buffer.from(text));
    for (const value of rawValues) {
      const answer = await new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(
            Buffer.concat([
              Buffer.from('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n'),
              Buffer.from('Accept: application/json, text/event-stream\r\nx-agent-id: '),
              value,
              Buffer.from(`\r\nContent-Length: ${INITIALIZE.length}\r\nConnection: close\r\n\r\n${INITIALIZE}`),
            ]),
          );
        });
        // The status line is all this needs; an opened session may keep its stream open.
        let text = '';
        socket.on('data', (d) => {
          text += d;
          if (text.includes('\r\n')) socket.destroy();
        });
        socket.on('error', () => resolve(text));
        socket.on('close', () => resolve(text));
      });
      // Either the parser refuses the request, or the session opens and its calls are refused.
      expect(answer).toMatch(/^HTTP\/1\.1 (400|200)/);
    }
    expect(upstream.requests).toEqual([]);
  });

  test('the longest valid id (10 KB) goes through as one path segment', async () => {
    const longId = 'a'.repeat(10 * 1024);
    const session = await connectHttp(server.url);
    try {
      expect(await session.call({ agent_id: longId, query: 'q' })).toBe(SCRIPTED_OK_LINE);
      expect(upstream.requests[0].path).toBe(agentToolsPath(longId));
    } finally {
      await session.close();
    }
  });

});

describe('stdio under abuse', () => {
  test('garbage lines, a 2 MB line and unknown methods leave the server serving', async () => {
    const child = spawnServer([], env, /serving MCP over stdio/);
    await child.started;
    const send = (line) => child.child.stdin.write(`${line}\n`);
    send(INITIALIZE);
    send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    send('not json at all');
    send('{"jsonrpc": "2.0", "id": 2, "method": ');
    const toolCall = (id, name, args) =>
      JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
    send(toolCall(3, 'find_tools', { agent_id: 'agent-1', query: 'x'.repeat(2 * 1024 * 1024) }));
    send(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'no/such/method' }));
    send(toolCall(5, 'nope', {}));
    send(toolCall(6, 'find_tools', { agent_id: 'agent-1', query: 'q' }));
    const answered = () =>
      Object.fromEntries(
        child.output.stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line))
          .map((message) => [message.id, message]),
      );
    // The SDK closes the connection when stdin ends, so the answers come first.
    while (![3, 4, 5, 6].every((id) => id in answered())) await sleep(10);
    child.child.stdin.end();
    expect(await child.exited()).toEqual({ code: 0, signal: null });
    const byId = answered();
    expect(byId[3].result.content[0].text).toBe(SCRIPTED_OK_LINE);
    expect(byId[4].error.code).toBe(-32601);
    expect(byId[5].error).toBeDefined();
    expect(byId[6].result.content[0].text).toBe(SCRIPTED_OK_LINE);
  });
});
