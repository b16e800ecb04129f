'use strict';

// The MCP server over Streamable HTTP (`--http`): sessions, the x-agent-id header (BEHAVIOUR.md §6),
// /health, /metrics, hostile requests and a graceful SIGTERM.
const http = require('node:http');
const { loadGoldens, startGoldenUpstream, envForCase } = require('./helpers/upstream');
const { startHttpServer, connectHttp, attachBodies, untilLogged } = require('./helpers/server');

const goldens = loadGoldens();
const goldenCase = (name) => goldens.cases.find((c) => c.name === name);
const RESP_FULL = goldenCase('resp-full');
const RESP_SLOW = goldenCase('resp-slow');
const { agent_id: AGENT, ...ARGS_WITHOUT_AGENT } = RESP_FULL.args;
const RESP_FULL_ATTACH_BODY = RESP_FULL.expected_requests.at(-1).body;

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

// A one-off connection, so that no pooled socket outlives the test or hides a refused connection.
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const postMcp = (url, body, headers = {}) =>
  request(`${url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body });

let upstream;
let env;
beforeAll(async () => {
  upstream = await startGoldenUpstream(goldens);
  env = envForCase(RESP_FULL, upstream);
});
afterAll(() => upstream.close());
beforeEach(() => {
  upstream.reset();
  upstream.setCase(RESP_FULL);
});

describe('a running server', () => {
  let server;
  beforeAll(async () => {
    server = await startHttpServer({ ...env, TOOL_SELECTOR_PASSWORD: 'pw-never-shown' });
  });
  afterAll(async () => {
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  test('initializes a session and lists find_tools', async () => {
    const session = await connectHttp(server.url);
    try {
      expect(session.transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(session.client.getServerVersion().name).toBe('letta-tools-selector');
      const { tools } = await session.client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(['find_tools']);
    } finally {
      await session.close();
    }
  });

  test('takes the agent id from the x-agent-id header', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': ` ${AGENT} ` });
    try {
      expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_FULL.expected_result);
      expect(await session.call(RESP_FULL.args)).toBe(RESP_FULL.expected_result);
      expect(attachBodies(upstream)).toEqual([RESP_FULL_ATTACH_BODY, RESP_FULL_ATTACH_BODY]);
    } finally {
      await session.close();
    }
  });

  test('a header and an argument that differ are refused with the legacy text', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
    try {
      expect(await session.call({ ...ARGS_WITHOUT_AGENT, agent_id: 'agent-other' })).toBe(
        `Error in find_tools: Agent ID mismatch: header '${AGENT}' != parameter 'agent-other'`,
      );
      expect(upstream.requests).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test('a repeated header counts with its first value', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': `${AGENT}, agent-second` });
    try {
      expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_FULL.expected_result);
      expect(attachBodies(upstream)).toEqual([RESP_FULL_ATTACH_BODY]);
    } finally {
      await session.close();
    }
  });

  test('a malformed header id and a missing id are refused with the legacy texts', async () => {
    const badHeader = await connectHttp(server.url, { 'x-agent-id': 'agent;drop' });
    const noHeader = await connectHttp(server.url);
    try {
      expect(await badHeader.call(ARGS_WITHOUT_AGENT)).toBe('Error in find_tools: Invalid agent ID format: agent;drop');
      expect(await noHeader.call(ARGS_WITHOUT_AGENT)).toBe(
        'Error in find_tools: Agent ID must be provided either in x-agent-id header or agent_id parameter',
      );
    } finally {
      await Promise.all([badHeader.close(), noHeader.close()]);
    }
  });

  test('two sessions at once each keep their own agent', async () => {
    upstream.setCase(goldenCase('lookup-noagent'));
    const first = await connectHttp(server.url, { 'x-agent-id': 'agent-cand' });
    const second = await connectHttp(server.url, { 'x-agent-id': 'agent-none' });
    try {
      expect(first.transport.sessionId).not.toBe(second.transport.sessionId);
      const health = JSON.parse((await request(`${server.url}/health`)).text);
      expect(health.sessions).toBeGreaterThanOrEqual(2);
      const texts = await Promise.all([
        first.call({ query: 'one' }),
        second.call({ query: 'two' }),
        first.call({ query: 'three' }),
      ]);
      expect(texts).toEqual(Array(3).fill(goldenCase('lookup-noagent').expected_result));
      const sent = attachBodies(upstream).map((body) => JSON.parse(body));
      const agentOf = Object.fromEntries(sent.map((body) => [body.query, body.agent_id]));
      expect(agentOf).toEqual({ one: 'agent-cand', two: 'agent-none', three: 'agent-cand' });

      await second.transport.terminateSession();
      const after = JSON.parse((await request(`${server.url}/health`)).text);
      expect(after.sessions).toBe(health.sessions - 1);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  test('/health says what serves and how it is doing, without secrets', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
    await session.call(ARGS_WITHOUT_AGENT);
    const response = await request(`${server.url}/health`);
    await session.close();

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.text).not.toContain('pw-never-shown');
    const health = JSON.parse(response.text);
    expect(health).toMatchObject({
      status: 'ok',
      transport: 'streamable-http',
      backend: 'native',
      sessions: expect.any(Number),
      settings: { toolSelectorUrl: upstream.toolSelectorUrl, lettaApiUrl: upstream.lettaUrl, hasPassword: true },
      stats: { inFlight: 0 },
    });
    expect(health.stats.calls).toBeGreaterThanOrEqual(1);
    expect(new Date(health.timestamp).toISOString()).toBe(health.timestamp);
  });

  test('/metrics counts calls, errors, timeouts, the cache and latency in Prometheus text', async () => {
    const metric = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const before = (await request(`${server.url}/metrics`)).text;

    const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
    try {
      await session.call(ARGS_WITHOUT_AGENT);
      await session.call({ ...ARGS_WITHOUT_AGENT, agent_id: 'agent-other' });
      upstream.setCase(RESP_SLOW);
      expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_SLOW.expected_result);
    } finally {
      await session.close();
    }

    const response = await request(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = response.text;
    const delta = (name) => metric(after, name) - metric(before, name);
    expect(delta('letta_find_tools_calls_total')).toBe(3);
    expect(delta('letta_find_tools_errors_total')).toBe(2);
    expect(delta('letta_find_tools_timeouts_total')).toBe(1);
    expect(delta('letta_find_tools_call_duration_seconds_count')).toBe(3);
    expect(metric(after, 'letta_find_tools_calls_in_flight')).toBe(0);
    expect(metric(after, 'letta_find_tools_lookup_cache_hits_total')).toBeGreaterThanOrEqual(1);
    expect(metric(after, 'letta_find_tools_lookup_cache_misses_total')).toBeGreaterThanOrEqual(1);
    expect(metric(after, 'letta_find_tools_upstream_connections_opened_total')).toBeGreaterThanOrEqual(2);
    expect(metric(after, 'letta_find_tools_mcp_sessions')).toEqual(expect.any(Number));
    expect(after).toMatch(/^letta_find_tools_call_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    expect(after).toContain('letta_find_tools_backend_info{backend="native"} 1');
    expect(after).toContain('# TYPE letta_find_tools_calls_total counter');
  });

  test.each([
    ['with a Content-Length', {}],
    ['sent in chunks', { 'Transfer-Encoding': 'chunked' }],
  ])('an oversized body (%s) is refused with 413 and a JSON-RPC error', async (_, headers) => {
    const big = JSON.stringify({ ...INITIALIZE, params: { ...INITIALIZE.params, padding: 'x'.repeat(2 * 1024 * 1024) } });
    const response = await postMcp(server.url, big, headers);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.text)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
    expect((await request(`${server.url}/health`)).status).toBe(200);
  });

  test.each([
    ['malformed JSON', '{"jsonrpc": "2.0", "id": 1, "method": ', 400, -32700],
    ['JSON that is not JSON-RPC', '{"hello": "world"}', 400, -32600],
    ['an empty batch', '[]', 400, -32600],
    ['a request outside any session', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), 400, -32000],
  ])('%s gets a JSON-RPC error, and the server carries on', async (_, body, status, code) => {
    const response = await postMcp(server.url, body);
    expect(response.status).toBe(status);
    expect(JSON.parse(response.text)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code } });
    expect((await request(`${server.url}/health`)).status).toBe(200);
  });

  test('an unknown session is 404, and other paths are 404', async () => {
    const unknown = await postMcp(server.url, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), {
      'mcp-session-id': 'no-such-session',
    });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).error.code).toBe(-32001);
    expect((await request(`${server.url}/nope`)).status).toBe(404);
  });

  test('malformed JSON inside a session gets a parse error too', async () => {
    const init = await postMcp(server.url, JSON.stringify(INITIALIZE));
    const sessionId = init.headers['mcp-session-id'];
    expect(sessionId).toBeDefined();
    const response = await postMcp(server.url, '{oops', { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error.code).toBe(-32700);
    const closed = await request(`${server.url}/mcp`, {
      method: 'DELETE',
      headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
    });
    expect(closed.status).toBe(200);
  });
});

test('ENABLE_AGENT_ID_HEADER=false ignores the header', async () => {
  const server = await startHttpServer({ ...env, ENABLE_AGENT_ID_HEADER: 'false', DEBUG_AGENT_ID_SOURCE: 'true' });
  const session = await connectHttp(server.url, { 'x-agent-id': 'agent-from-header' });
  try {
    expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(
      'Error in find_tools: Agent ID must be provided either in x-agent-id header or agent_id parameter',
    );
    expect(await session.call(RESP_FULL.args)).toBe(RESP_FULL.expected_result);
    expect(attachBodies(upstream)).toEqual([RESP_FULL_ATTACH_BODY]);
    await untilLogged(server.stderr, `find_tools agent id ${AGENT} from parameter`);
  } finally {
    await session.close();
    await server.stop();
  }
});

test('DEBUG_AGENT_ID_SOURCE=true logs a header-sourced id', async () => {
  const server = await startHttpServer({ ...env, DEBUG_AGENT_ID_SOURCE: 'true' });
  const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
  try {
    await session.call(ARGS_WITHOUT_AGENT);
    await untilLogged(server.stderr, `find_tools agent id ${AGENT} from header`);
  } finally {
    await session.close();
    await server.stop();
  }
});

test('SIGTERM stops accepting, lets the call in flight finish, and exits 0', async () => {
  upstream.setCase({ ...RESP_FULL, attach_response: { ...RESP_FULL.attach_response, delay_ms: 700 } });
  const server = await startHttpServer(env);
  const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
  const pending = session.call(ARGS_WITHOUT_AGENT);
  while (attachBodies(upstream).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));

  server.child.kill('SIGTERM');
  await untilLogged(server.stderr, 'SIGTERM: stopping; 1 call(s) in flight');
  await expect(request(`${server.url}/health`)).rejects.toThrow(/ECONNREFUSED/);

  expect(await pending).toBe(RESP_FULL.expected_result);
  expect(await server.exited()).toEqual({ code: 0, signal: null });
  await session.close();
});

describe('sessions a client abandons', () => {
  let server;
  beforeAll(async () => {
    server = await startHttpServer({ ...env, SESSION_IDLE_TIMEOUT_MS: '400' });
  });
  afterAll(async () => {
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  test('are closed once idle for SESSION_IDLE_TIMEOUT_MS, and their id is then unknown', async () => {
    const opened = await request(`${server.url}/mcp`, {
      method: 'POST',
      headers: MCP_HEADERS,
      body: JSON.stringify(INITIALIZE),
    });
    const sessionId = opened.headers['mcp-session-id'];
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const sessions = async () => JSON.parse((await request(`${server.url}/health`)).text).sessions;
    expect(await sessions()).toBe(1);
    // Bounded wait: the sweep runs every 200 ms here; 10 s means it never did.
    for (let tries = 0; tries < 100 && (await sessions()) > 0; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await sessions()).toBe(0);
    const reused = await request(`${server.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, 'mcp-session-id': sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(reused.status).toBe(404);
  });

  test('a session in use is kept', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
    try {
      for (let i = 0; i < 4; i += 1) {
        expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_FULL.expected_result);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await session.close();
    }
  });
});
