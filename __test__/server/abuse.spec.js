'use strict';

// The MCP server under abuse (Streamable HTTP, and stdio where it applies): malformed JSON-RPC,
// huge bodies, unknown tools and methods, 100 concurrent clients, clients that disconnect
// mid-call or stall, hostile agent ids, and secrets. After each, the server keeps serving the
// others, and no credential shows in a result, on stderr, in /health or in /metrics.
const http = require('node:http');
const net = require('node:net');
const { startUpstream, answerAfter, agentToolsPath, CALL_REQUEST } = require('../helpers/upstream');
const { startHttpServer, connectHttp, connectStdio, spawnServer } = require('../helpers/server');

const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: null });
const OK_LINE = '{"status": "success", "message": "ok", "details": null}';
const PROTOCOL = '2025-06-18';
const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'abuse', version: '1' } },
};
const SECRETS = {
  TOOL_SELECTOR_PASSWORD: 'srv-Pw-7a1e93',
  TOOL_SELECTOR_BEARER_TOKEN: 'srv-Tok-3c9b20',
  LETTA_PASSWORD: 'srv-Letta-5d2f17',
};
const INVALID_FORMAT = 'Error in find_tools: Invalid agent ID format: ';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A one-off connection per request, so that no pooled socket hides what the server did.
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

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
  // The Tool Selector and the Letta API in one recording server. The query says how to answer.
  upstream = await startUpstream((req, res, body) => {
    if (req.method === 'GET') return res.end('[{"name": "find_tools", "id": "tool-ft"}]');
    const query = JSON.parse(body).query ?? '';
    if (query.startsWith('slow')) return answerAfter(res, 400, () => res.end(OK_BODY));
    if (query === 'hang') return undefined; // closed with the upstream
    if (query === 'boom') {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      return res.end('{"error": "boom", "details": {"trace": "upstream trace"}}');
    }
    if (query === 'reset') return req.socket.destroy();
    return res.end(OK_BODY);
  });
  env = {
    TOOLS_API_BASE_URL: upstream.url,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: upstream.url,
    TOOLS_API_TIMEOUT: '1',
    ...SECRETS,
  };
  server = await startHttpServer(env);
});

afterAll(async () => {
  const exit = await server.stop();
  await upstream.close();
  expect(exit).toEqual({ code: 0, signal: null });
  for (const secret of Object.values(SECRETS)) expect(server.stderr()).not.toContain(secret);
});

beforeEach(() => {
  upstream.requests.length = 0;
});

// After every test the server still answers a real client's call and its health is "healthy".
afterEach(async () => {
  const session = await connectHttp(server.url, { 'x-agent-id': 'agent-after' });
  try {
    expect(await session.call({ query: 'still serving?' })).toBe(OK_LINE);
  } finally {
    await session.close();
  }
  const health = await request(`${server.url}/health`);
  expect(health.status).toBe(200);
  expect(JSON.parse(health.text).status).toBe('healthy');
});

// A 2025-era client speaking raw HTTP. The server is stateless: after its initialize, each
// request stands alone, with the protocol version header and no session id.
async function openRawClient() {
  const init = await request(`${server.url}/mcp`, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify(INITIALIZE) });
  expect(init.status).toBe(200);
  expect(init.headers['mcp-session-id']).toBeUndefined();
  const headers = { ...MCP_HEADERS, 'mcp-protocol-version': PROTOCOL };
  return {
    headers,
    send: (message) =>
      request(`${server.url}/mcp`, {
        method: 'POST',
        headers,
        body: typeof message === 'string' ? message : JSON.stringify(message),
      }),
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
    ['a byte-order mark', `\ufeff${JSON.stringify(INITIALIZE).slice(0, -1)}`],
    ['a NUL byte', '{"jsonrpc": "2.0", "id": 1, "method": "init\u0000ialize"}'],
  ];

  test.each(bodies)('%s gets a 4xx JSON-RPC error', async (_what, body) => {
    const response = await request(`${server.url}/mcp`, { method: 'POST', headers: MCP_HEADERS, body });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    const [message] = messagesOf(response);
    expect(message).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
  });

  test('other methods and content types on /mcp are refused', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const response = await request(`${server.url}/mcp`, { method, headers: MCP_HEADERS });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
    }
    const wrongType = await request(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Accept: 'text/html' },
      body: JSON.stringify(INITIALIZE),
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
    expect(first('oddArguments')).toMatchObject({ id: 16, result: { content: [{ type: 'text', text: OK_LINE }] } });
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

describe('huge request bodies', () => {
  // 200 MB offered; the server answers 413 after 1 MB and the client's writes stop there.
  test.each([
    ['with a Content-Length', true],
    ['chunked', false],
  ])('a 200 MB body (%s) is refused early, without reading it all', async (_what, withLength) => {
    const total = 200 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let offered = 0;
    const response = await new Promise((resolve) => {
      const headers = { ...MCP_HEADERS, ...(withLength ? { 'Content-Length': total } : {}) };
      const req = http.request(`${server.url}/mcp`, { method: 'POST', headers, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', (error) => resolve({ error: error.code }));
      const pump = () => {
        while (offered < total && !req.destroyed) {
          offered += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    // Either the 413 arrived, or the server closed the connection on the rest of the body.
    if (response.status !== undefined) {
      expect(response.status).toBe(413);
      expect(JSON.parse(response.text)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    } else {
      expect(response.error).toMatch(/EPIPE|ECONNRESET/);
    }
    expect(offered).toBeLessThan(total);
  });

  test('a tools/call just under 1 MB, with 100,000 keep_tools, is served', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': 'agent-big' });
    try {
      const keep = Array.from({ length: 100000 }, (_, i) => `t${i}`).join(',');
      expect(await session.call({ query: 'big', keep_tools: keep })).toBe(OK_LINE);
      const [attach] = upstream.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body));
      expect(attach.keep_tools).toHaveLength(100001);
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
      expect(texts).toEqual(Array(100).fill(OK_LINE));
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
      expect(texts).toEqual(Array(10).fill(OK_LINE));
      await Promise.all(dropped);
      // They were mid-call: the server had passed every one of them on to the upstream.
      expect(upstream.requests.filter((r) => r.method === 'POST' && r.body.includes('"query": "slow-'))).toHaveLength(20);
      // Every abandoned call ends (answered or cancelled); nothing stays in flight.
      let health;
      for (let tries = 0; tries < 100; tries += 1) {
        health = JSON.parse((await request(`${server.url}/health`)).text);
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
          const body = JSON.stringify(INITIALIZE);
          socket.write(
            Buffer.concat([
              Buffer.from('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n'),
              Buffer.from('Accept: application/json, text/event-stream\r\nx-agent-id: '),
              value,
              Buffer.from(`\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`),
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
      expect(await session.call({ agent_id: longId, query: 'q' })).toBe(OK_LINE);
      expect(upstream.requests[0].path).toBe(agentToolsPath(longId));
    } finally {
      await session.close();
    }
  });

  test('with REQUIRE_AGENT_ID=false, unchecked ids are encoded as one path segment by the client', async () => {
    const stdio = await connectStdio({ ...env, REQUIRE_AGENT_ID: 'false', TOOLS_API_TIMEOUT: '5' });
    try {
      for (const agentId of HOSTILE) {
        upstream.requests.length = 0;
        expect(await stdio.call({ agent_id: agentId, query: 'q' })).toBe(OK_LINE);
        for (const { method, path } of upstream.requests) {
          expect(`${method} ${path}`).toMatch(CALL_REQUEST);
        }
        const lookup = upstream.requests.find((r) => r.path.startsWith('/v1/agents/'));
        if (lookup) expect(decodeURIComponent(lookup.path.split('/')[3])).toBe(agentId.trim());
      }
    } finally {
      await stdio.close();
    }
  });
});

describe('stdio under abuse', () => {
  test('garbage lines, a 2 MB line and unknown methods leave the server serving', async () => {
    const child = spawnServer([], env, /serving MCP over stdio/);
    await child.started;
    const send = (line) => child.child.stdin.write(`${line}\n`);
    send(JSON.stringify(INITIALIZE));
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
    expect(byId[3].result.content[0].text).toBe(OK_LINE);
    expect(byId[4].error.code).toBe(-32601);
    expect(byId[5].error).toBeDefined();
    expect(byId[6].result.content[0].text).toBe(OK_LINE);
    for (const secret of Object.values(SECRETS)) expect(child.output.stderr + child.output.stdout).not.toContain(secret);
  });
});

describe('secrets', () => {
  test('no credential in any result, in /health, in /metrics or on stderr, whatever fails', async () => {
    const seen = [];
    const session = await connectHttp(server.url, { 'x-agent-id': 'agent-secrets' });
    try {
      for (const query of ['boom', 'reset', 'hang', 'fine']) seen.push(await session.call({ query }));
      seen.push(await session.call({ query: 'q', agent_id: 'someone-else' }));
      seen.push(await session.call({ query: 'q', agent_id: 'bad id!' }));
      seen.push(JSON.stringify(await session.client.callTool({ name: 'nope', arguments: {} }).catch((e) => e.message)));
    } finally {
      await session.close();
    }
    expect(seen).toEqual([
      '{"status": "error", "message": "boom", "details": {"trace": "upstream trace"}}',
      '{"status": "error", "message": "Failed to contact tool selector API."}',
      '{"status": "error", "message": "Tool attach request timed out."}',
      OK_LINE,
      "Error in find_tools: Agent ID mismatch: header 'agent-secrets' != parameter 'someone-else'",
      "Error in find_tools: Agent ID mismatch: header 'agent-secrets' != parameter 'bad id!'",
      expect.stringContaining('nope'),
    ]);
    // The credentials did travel, where they belong.
    const attach = upstream.requests.find((r) => r.method === 'POST');
    expect(attach.headers.authorization).toBe(`Bearer ${SECRETS.TOOL_SELECTOR_BEARER_TOKEN}`);
    const health = await request(`${server.url}/health`);
    const metrics = await request(`${server.url}/metrics`);
    expect(JSON.parse(health.text).settings).toMatchObject({ hasPassword: true, hasBearerToken: true, hasLettaPassword: true });
    const shown = [...seen, health.text, metrics.text, server.stderr()].join('\n');
    for (const secret of Object.values(SECRETS)) expect(shown).not.toContain(secret);
  });

  test('a server whose credential cannot be sent refuses to start, naming the variable only', async () => {
    const brokenEnv = { ...env, PORT: '0', HOST: '127.0.0.1', TOOL_SELECTOR_PASSWORD: 'srv-Pw-7a1e93\r\nX: 1' };
    const broken = spawnServer(['--http'], brokenEnv, /listening/);
    await expect(broken.started).rejects.toThrow(/exited with 1/);
    expect(broken.output.stderr).toMatch(/TOOL_SELECTOR_PASSWORD contains a control character/);
    expect(broken.output.stderr).not.toContain('srv-Pw');
  });

  test('credentials inside URLs are masked in /health and in the log', async () => {
    const masked = await startHttpServer({
      ...env,
      TOOLS_API_BASE_URL: upstream.url.replace('http://', `http://user:${SECRETS.TOOL_SELECTOR_PASSWORD}@`),
      LETTA_API_URL: upstream.url.replace('http://', `http://user:${SECRETS.LETTA_PASSWORD}@`),
    });
    try {
      const session = await connectHttp(masked.url, { 'x-agent-id': 'agent-url' });
      await session.call({ query: 'q' });
      await session.close();
      const shown = [(await request(`${masked.url}/health`)).text, (await request(`${masked.url}/metrics`)).text].join('\n');
      for (const secret of Object.values(SECRETS)) {
        expect(shown).not.toContain(secret);
        expect(masked.stderr()).not.toContain(secret);
      }
    } finally {
      expect(await masked.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
