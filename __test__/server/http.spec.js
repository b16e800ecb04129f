'use strict';

// The MCP server over Streamable HTTP (`--http`), stateless, through the SDK client in each
// protocol era: the x-agent-id header (BEHAVIOUR.md §6), /health, /metrics, malformed requests and
// a graceful SIGTERM.
const { loadGoldens, useGoldenUpstream } = require('../helpers/upstream');
const {
  startHttpServer,
  connectHttp,
  attachBodies,
  untilLogged,
  rawRequest,
  postMcp,
  metricValue,
  NEGOTIATIONS,
  ERA_OF,
  CONTRACT_TOOL,
  MISSING_AGENT_ID,
} = require('../helpers/server');

const goldens = loadGoldens();
const goldenCase = (name) => goldens.cases.find((c) => c.name === name);
const RESP_FULL = goldenCase('resp-full');
const RESP_SLOW = goldenCase('resp-slow');
const { agent_id: AGENT, ...ARGS_WITHOUT_AGENT } = RESP_FULL.args;
const RESP_FULL_ATTACH_BODY = RESP_FULL.expected_requests.at(-1).body;

const fixture = useGoldenUpstream(goldens, RESP_FULL);

describe('a running server', () => {
  let server;
  beforeAll(async () => {
    server = await startHttpServer({ ...fixture.env, TOOL_SELECTOR_PASSWORD: 'pw' });
  });
  afterAll(async () => {
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  describe.each(Object.keys(NEGOTIATIONS))('a client negotiating %s', (negotiation) => {
    const connect = (headers) => connectHttp(server.url, headers, negotiation);
    const withSession = async (headers, body) => {
      const session = await connect(headers);
      try {
        await body(session);
      } finally {
        await session.close();
      }
    };

    test(`lands on the ${ERA_OF[negotiation]} era without a session, and lists find_tools as BEHAVIOUR.md §6 says`, () =>
      withSession({}, async (session) => {
        expect(session.client.getProtocolEra()).toBe(ERA_OF[negotiation]);
        expect(session.transport.sessionId).toBeUndefined();
        expect(session.client.getServerVersion().name).toBe('letta-tools-selector');
        const { tools } = await session.client.listTools();
        expect(tools).toEqual([CONTRACT_TOOL]);
      }));

    test('takes the agent id from the x-agent-id header, trimmed', () =>
      withSession({ 'x-agent-id': ` ${AGENT} ` }, async (session) => {
        const result = await session.callResult(ARGS_WITHOUT_AGENT);
        expect(result.content).toEqual([{ type: 'text', text: RESP_FULL.expected_result }]);
        expect(result.isError).toBeUndefined();
        expect(await session.call(RESP_FULL.args)).toBe(RESP_FULL.expected_result);
        expect(attachBodies(fixture.upstream)).toEqual([RESP_FULL_ATTACH_BODY, RESP_FULL_ATTACH_BODY]);
      }));

    test('a header and an argument that differ are refused with the legacy text, flagged isError', () =>
      withSession({ 'x-agent-id': AGENT }, async (session) => {
        const result = await session.callResult({ ...ARGS_WITHOUT_AGENT, agent_id: 'agent-other' });
        expect(result.content).toEqual([
          { type: 'text', text: `Error in find_tools: Agent ID mismatch: header '${AGENT}' != parameter 'agent-other'` },
        ]);
        expect(result.isError).toBe(true);
        expect(fixture.upstream.requests).toEqual([]);
      }));

    test('a repeated header holding one agent id serves that agent', () =>
      withSession({ 'x-agent-id': `${AGENT}, ${AGENT}` }, async (session) => {
        expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_FULL.expected_result);
        expect(attachBodies(fixture.upstream)).toEqual([RESP_FULL_ATTACH_BODY]);
      }));

    test("two agent ids in the header (a custom x-agent-id beside Letta's own) are refused, flagged isError, nothing sent", () =>
      withSession({ 'x-agent-id': `${AGENT}, agent-second` }, async (session) => {
        const result = await session.callResult(ARGS_WITHOUT_AGENT);
        expect(result.content).toEqual([
          {
            type: 'text',
            text:
              `Error in find_tools: Agent ID mismatch: x-agent-id headers '${AGENT}' != 'agent-second'; ` +
              "remove the custom x-agent-id header from this MCP server's registration (Letta sends its own)",
          },
        ]);
        expect(result.isError).toBe(true);
        expect(fixture.upstream.requests).toEqual([]);
      }));

    test('a malformed header id and a missing id are refused with the legacy texts', async () => {
      await withSession({ 'x-agent-id': 'agent;drop' }, async (session) => {
        const result = await session.callResult(ARGS_WITHOUT_AGENT);
        expect(result.content[0].text).toBe('Error in find_tools: Invalid agent ID format: agent;drop');
        expect(result.isError).toBe(true);
      });
      await withSession({}, async (session) => {
        const result = await session.callResult(ARGS_WITHOUT_AGENT);
        expect(result.content[0].text).toBe(MISSING_AGENT_ID);
        expect(result.isError).toBe(true);
      });
      expect(fixture.upstream.requests).toEqual([]);
    });

    test('an upstream error comes back unchanged, flagged isError', () =>
      withSession({ 'x-agent-id': AGENT }, async (session) => {
        fixture.upstream.setCase(goldenCase('resp-err400'));
        const result = await session.callResult(goldenCase('resp-err400').args);
        expect(result.content).toEqual([{ type: 'text', text: goldenCase('resp-err400').expected_result }]);
        expect(result.isError).toBe(true);
      }));

    test('two clients at once each keep their own agent', async () => {
      fixture.upstream.setCase(goldenCase('lookup-noagent'));
      const first = await connect({ 'x-agent-id': 'agent-cand' });
      const second = await connect({ 'x-agent-id': 'agent-none' });
      try {
        const texts = await Promise.all([
          first.call({ query: 'one' }),
          second.call({ query: 'two' }),
          first.call({ query: 'three' }),
        ]);
        expect(texts).toEqual(Array(3).fill(goldenCase('lookup-noagent').expected_result));
        const sent = attachBodies(fixture.upstream).map((body) => JSON.parse(body));
        const agentOf = Object.fromEntries(sent.map((body) => [body.query, body.agent_id]));
        expect(agentOf).toEqual({ one: 'agent-cand', two: 'agent-none', three: 'agent-cand' });
      } finally {
        await Promise.all([first.close(), second.close()]);
      }
    });
  });

  test('/health says what serves and how it is doing (status "healthy", as monitors of the legacy server expect)', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
    await session.call(ARGS_WITHOUT_AGENT);
    const response = await rawRequest(`${server.url}/health`);
    await session.close();

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    const health = JSON.parse(response.text);
    expect(health).toMatchObject({
      status: 'healthy',
      transport: 'streamable-http',
      backend: 'native',
      inFlight: 0,
      settings: { toolSelectorUrl: fixture.upstream.toolSelectorUrl, lettaApiUrl: fixture.upstream.lettaUrl, hasPassword: true },
      stats: { inFlight: 0 },
    });
    expect(health.stats.calls).toBeGreaterThanOrEqual(1);
    expect(new Date(health.timestamp).toISOString()).toBe(health.timestamp);
  });

  test('/metrics counts calls, errors, timeouts, the cache and latency in Prometheus text', async () => {
    const before = (await rawRequest(`${server.url}/metrics`)).text;

    const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
    try {
      await session.call(ARGS_WITHOUT_AGENT);
      await session.call({ ...ARGS_WITHOUT_AGENT, agent_id: 'agent-other' });
      fixture.upstream.setCase(RESP_SLOW);
      expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_SLOW.expected_result);
    } finally {
      await session.close();
    }

    const response = await rawRequest(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = response.text;
    const delta = (name) => metricValue(after, name) - metricValue(before, name);
    expect(delta('letta_find_tools_calls_total')).toBe(3);
    expect(delta('letta_find_tools_errors_total')).toBe(2);
    expect(delta('letta_find_tools_timeouts_total')).toBe(1);
    expect(delta('letta_find_tools_call_duration_seconds_count')).toBe(3);
    expect(metricValue(after, 'letta_find_tools_calls_in_flight')).toBe(0);
    expect(metricValue(after, 'letta_find_tools_lookup_cache_hits_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(after, 'letta_find_tools_lookup_cache_misses_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(after, 'letta_find_tools_upstream_connections_opened_total')).toBeGreaterThanOrEqual(2);
    expect(after).not.toContain('letta_find_tools_mcp_sessions');
    expect(after).toMatch(/^letta_find_tools_call_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    expect(after).toContain('letta_find_tools_backend_info{backend="native"} 1');
    expect(after).toContain('# TYPE letta_find_tools_calls_total counter');
  });

  test.each([
    ['malformed JSON', '{"jsonrpc": "2.0", "id": 1, "method": ', 400, -32700],
    ['JSON that is not JSON-RPC', '{"hello": "world"}', 400, -32600],
    ['an empty batch', '[]', 400, -32600],
  ])('%s gets a JSON-RPC error, and the server carries on', async (_, body, status, code) => {
    const response = await postMcp(server.url, body);
    expect(response.status).toBe(status);
    expect(JSON.parse(response.text)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code } });
    expect((await rawRequest(`${server.url}/health`)).status).toBe(200);
  });

  test('a 2025 request needs no initialize first: every request stands alone', async () => {
    const response = await postMcp(server.url, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
    expect(response.status).toBe(200);
    expect(response.headers['mcp-session-id']).toBeUndefined();
    expect(response.text).toContain('"name":"find_tools"');
  });

  test('the 2025 session operations (GET stream, DELETE) are 405, other paths 404', async () => {
    expect((await rawRequest(`${server.url}/mcp`, { headers: { Accept: 'text/event-stream' } })).status).toBe(405);
    expect((await rawRequest(`${server.url}/mcp`, { method: 'DELETE' })).status).toBe(405);
    expect((await rawRequest(`${server.url}/nope`)).status).toBe(404);
  });
});

test('ENABLE_AGENT_ID_HEADER=false ignores the header', async () => {
  const server = await startHttpServer({ ...fixture.env, ENABLE_AGENT_ID_HEADER: 'false', DEBUG_AGENT_ID_SOURCE: 'true' });
  const session = await connectHttp(server.url, { 'x-agent-id': 'agent-from-header' });
  try {
    expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(
      MISSING_AGENT_ID,
    );
    expect(await session.call(RESP_FULL.args)).toBe(RESP_FULL.expected_result);
    expect(attachBodies(fixture.upstream)).toEqual([RESP_FULL_ATTACH_BODY]);
    await untilLogged(server.stderr, `agent_id=${AGENT} agent_id_source=parameter`);
  } finally {
    await session.close();
    await server.stop();
  }
});

test('DEBUG_AGENT_ID_SOURCE=true logs a header-sourced id on the call line', async () => {
  const server = await startHttpServer({ ...fixture.env, DEBUG_AGENT_ID_SOURCE: 'true' });
  const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
  try {
    await session.call(ARGS_WITHOUT_AGENT);
    await untilLogged(server.stderr, `agent_id=${AGENT} agent_id_source=header`);
  } finally {
    await session.close();
    await server.stop();
  }
});

test('SIGTERM stops accepting, lets the call in flight finish, and exits 0', async () => {
  fixture.upstream.setCase({ ...RESP_FULL, attach_response: { ...RESP_FULL.attach_response, delay_ms: 700 } });
  const server = await startHttpServer(fixture.env);
  const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
  const pending = session.call(ARGS_WITHOUT_AGENT);
  while (attachBodies(fixture.upstream).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));

  server.child.kill('SIGTERM');
  await untilLogged(server.stderr, 'SIGTERM: stopping; 1 call(s) in flight');
  await expect(rawRequest(`${server.url}/health`)).rejects.toThrow(/ECONNREFUSED/);

  expect(await pending).toBe(RESP_FULL.expected_result);
  expect(await server.exited()).toEqual({ code: 0, signal: null });
  await session.close();
});
