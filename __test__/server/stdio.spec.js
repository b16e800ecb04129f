'use strict';

// The MCP server over stdio (BEHAVIOUR.md §6), through the real SDK client in each protocol era or
// raw JSON-RPC lines, against the golden upstream.
const { parseJSONRPCMessage } = require('@modelcontextprotocol/client');
const { loadGoldens, useGoldenUpstream } = require('../helpers/upstream');
const { connectStdio, attachBodies, untilLogged, NEGOTIATIONS, ERA_OF, CONTRACT_TOOL, MISSING_AGENT_ID } = require('../helpers/server');
const { initializeLine, INITIALIZED_LINE, toolCallLine, toolsListLine, startPipe, until } = require('../helpers/stdio-pipe');

const goldens = loadGoldens();
const goldenCase = (name) => goldens.cases.find((c) => c.name === name);
const RESP_FULL = goldenCase('resp-full');

const OK_CASE = goldenCase('lookup-noagent');

const fixture = useGoldenUpstream(goldens, RESP_FULL);

describe.each(Object.keys(NEGOTIATIONS))('with the default environment, a client negotiating %s', (negotiation) => {
  let server;
  beforeAll(async () => {
    server = await connectStdio(fixture.env, negotiation);
  });
  afterAll(() => server.close());

  test(`lands on the ${ERA_OF[negotiation]} era`, () => {
    expect(server.client.getProtocolEra()).toBe(ERA_OF[negotiation]);
  });

  test('is letta-tools-selector and lists find_tools exactly as BEHAVIOUR.md §6 says', async () => {
    expect(server.client.getServerVersion().name).toBe('letta-tools-selector');
    const { tools } = await server.client.listTools();
    expect(tools).toEqual([CONTRACT_TOOL]);
  });

  test('a call answers the golden line of resp-full in one text item', async () => {
    const result = await server.callResult(RESP_FULL.args);
    expect(result.content).toEqual([{ type: 'text', text: RESP_FULL.expected_result }]);
    expect(result.isError).toBeUndefined();
    expect(attachBodies(fixture.upstream)).toEqual([RESP_FULL.expected_requests.at(-1).body]);
  });

  test('every response golden answers its line byte for byte, flagged isError unless a success', async () => {
    for (const golden of goldens.cases.filter((c) => c.name.startsWith('resp-'))) {
      fixture.upstream.setCase(golden);
      const result = await server.callResult(golden.args);
      expect(result.content).toEqual([{ type: 'text', text: golden.expected_result }]);
      expect([golden.name, result.isError === true]).toEqual([golden.name, !golden.expected_result.startsWith('{"status": "success"')]);
    }
  });

  test('a missing agent id is the legacy error text, flagged isError, and nothing is sent upstream', async () => {
    const result = await server.callResult({ query: 'q' });
    expect(result.content).toEqual([{ type: 'text', text: MISSING_AGENT_ID }]);
    expect(result.isError).toBe(true);
    expect(await server.call({ query: 'q', agent_id: '   ' })).toBe(MISSING_AGENT_ID);
    expect(fixture.upstream.requests).toEqual([]);
  });

  test('the agent id argument is trimmed', async () => {
    await server.call({ ...RESP_FULL.args, agent_id: '  agent-exact\t' });
    expect(attachBodies(fixture.upstream)).toEqual([RESP_FULL.expected_requests.at(-1).body]);
  });

  test('arguments of odd types are converted or dropped, never refused', async () => {
    fixture.upstream.setCase(OK_CASE);
    const text = await server.call({
      query: 42,
      agent_id: 'agent-exact',
      keep_tools: ['a', 7, true, { id: 'x' }, null, ['b']],
      limit: '3',
      min_score: true,
      request_heartbeat: 'TRUE',
      unknown_property: { nested: [1, 2] },
    });
    expect(text).toBe(OK_CASE.expected_result);
    expect(attachBodies(fixture.upstream)).toEqual([
      '{"limit": 3, "min_score": 50.0, "keep_tools": ["tool-exact", "a", "7", "true"], "request_heartbeat": true, "query": "42", "agent_id": "agent-exact"}',
    ]);
  });

  test.each([
    ['nulls everywhere', { query: null, agent_id: 'agent-exact', keep_tools: null, limit: null, min_score: null, request_heartbeat: null }],
    ['objects and arrays', { query: { a: 1 }, agent_id: 'agent-exact', keep_tools: { a: 1 }, limit: [5], min_score: {}, request_heartbeat: [true] }],
    ['numbers for strings and strings for numbers', { query: 1.5, agent_id: 'agent-exact', keep_tools: 12, limit: 'lots', min_score: 'NaN', request_heartbeat: 1 }],
  ])('%s still make a call', async (_, args) => {
    fixture.upstream.setCase(OK_CASE);
    expect(await server.call(args)).toBe(OK_CASE.expected_result);
    expect(attachBodies(fixture.upstream)).toHaveLength(1);
  });

  test('a numeric agent id is used as its text', async () => {
    await server.call({ query: 'q', agent_id: 12345 });
    expect(JSON.parse(attachBodies(fixture.upstream)[0]).agent_id).toBe('12345');
  });

  test('an unknown tool is a protocol error', async () => {
    await expect(server.client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool: no_such_tool/);
  });

  test('logs the backend and the upstream once, on stderr', async () => {
    await untilLogged(server.stderr, 'serving MCP over stdio');
    const lines = server.stderr().split('\n').filter((line) => line.includes('find_tools backend:'));
    expect(lines).toEqual([
      `[letta-find-tools-mcp] info: find_tools backend: native client; Tool Selector at ${fixture.upstream.toolSelectorUrl}, Letta API at ${fixture.upstream.lettaUrl}`,
    ]);
  });
});

describe('environment flags', () => {
  const withServer = async (extraEnv, body) => {
    const server = await connectStdio({ ...fixture.env, ...extraEnv });
    try {
      await body(server);
    } finally {
      await server.close();
    }
  };

  test('REQUIRE_AGENT_ID=false calls without an agent, and skips the format check', async () => {
    fixture.upstream.setCase(OK_CASE);
    await withServer({ REQUIRE_AGENT_ID: 'false' }, async (server) => {
      expect(await server.call({ query: 'default' })).toBe(OK_CASE.expected_result);
      expect(attachBodies(fixture.upstream)).toEqual([OK_CASE.expected_requests.at(-1).body]);
      expect(await server.call({ query: 'q', agent_id: 'agent one' })).toBe(OK_CASE.expected_result);
      expect(JSON.parse(attachBodies(fixture.upstream)[1]).agent_id).toBe('agent one');
    });
  });

  test('REQUIRE_AGENT_ID=false with STRICT_AGENT_ID_VALIDATION=true still checks the format', async () => {
    await withServer({ REQUIRE_AGENT_ID: 'false', STRICT_AGENT_ID_VALIDATION: 'true' }, async (server) => {
      expect(await server.call({ query: 'q', agent_id: 'agent one' })).toBe('Error in find_tools: Invalid agent ID format: agent one');
      fixture.upstream.setCase(OK_CASE);
      expect(await server.call({ query: 'default' })).toBe(OK_CASE.expected_result);
    });
  });

  test('STRICT_AGENT_ID_VALIDATION=true keeps requiring an agent by default', async () => {
    await withServer({ STRICT_AGENT_ID_VALIDATION: 'true' }, async (server) => {
      expect(await server.call({ query: 'q' })).toBe(MISSING_AGENT_ID);
      expect(await server.call({ query: 'q', agent_id: 'a!' })).toBe('Error in find_tools: Invalid agent ID format: a!');
      expect(await server.call(RESP_FULL.args)).toBe(RESP_FULL.expected_result);
    });
  });

  test('DEBUG_AGENT_ID_SOURCE=true logs where the agent id came from', async () => {
    await withServer({ DEBUG_AGENT_ID_SOURCE: 'true' }, async (server) => {
      await server.call(RESP_FULL.args);
      await untilLogged(server.stderr, 'agent_id=agent-exact agent_id_source=parameter');
    });
  });

  test('an unreadable flag keeps its default and says so', async () => {
    await withServer({ REQUIRE_AGENT_ID: 'maybe' }, async (server) => {
      expect(await server.call({ query: 'q' })).toBe(MISSING_AGENT_ID);
      await untilLogged(server.stderr, "REQUIRE_AGENT_ID='maybe' is neither true nor false; using true");
    });
  });
});

describe('raw stdio', () => {
  test('stdout carries nothing but protocol messages, and closing stdin ends the server cleanly', async () => {
    const pipe = await startPipe(fixture.env);
    await pipe.send([
      initializeLine('2025-06-18', 1),
      INITIALIZED_LINE,
      'this is not json',
      toolsListLine(2),
      toolCallLine(3, RESP_FULL.args),
      toolCallLine(4, { query: 'q' }),
      toolCallLine(5, { ...RESP_FULL.args, limit: { not: 'a number' } }),
    ]);
    // The SDK's stdio transport closes the connection when stdin ends (the MCP stdio binding's
    // guidance), so the client waits for its answers before it says goodbye.
    await until(() => pipe.answers().length >= 5, 'five answers');
    pipe.child.stdin.end();

    expect(await pipe.exited()).toEqual({ code: 0, signal: null });
    expect(pipe.output.stdout.endsWith('\n')).toBe(true);
    for (const line of pipe.stdoutLines()) expect(() => parseJSONRPCMessage(JSON.parse(line))).not.toThrow();
    const byId = Object.fromEntries(pipe.answers().map((message) => [message.id, message]));
    expect(Object.keys(byId).sort()).toEqual(['1', '2', '3', '4', '5']);
    expect(byId[3].result.content[0].text).toBe(RESP_FULL.expected_result);
    expect(byId[4].result.content[0].text).toBe(MISSING_AGENT_ID);
    expect(byId[5].result.content[0].text).toBe(RESP_FULL.expected_result);
    expect(pipe.output.stderr).toContain('find_tools backend: native client');
  });

  test('SIGTERM lets a call in flight finish, then exits 0', async () => {
    fixture.upstream.setCase({ ...RESP_FULL, attach_response: { ...RESP_FULL.attach_response, delay_ms: 700 } });
    const pipe = await startPipe(fixture.env);
    await pipe.send([initializeLine('2025-06-18', 1), INITIALIZED_LINE, toolCallLine(2, RESP_FULL.args)]);
    await until(() => attachBodies(fixture.upstream).length > 0, 'the attach request');
    pipe.child.kill('SIGTERM');

    expect(await pipe.exited()).toEqual({ code: 0, signal: null });
    const answer = pipe.answers().find((message) => message.id === 2);
    expect(answer.result.content).toEqual([{ type: 'text', text: RESP_FULL.expected_result }]);
    expect(pipe.output.stderr).toContain('SIGTERM: stopping; 1 call(s) in flight');
  });
});
