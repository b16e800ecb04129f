'use strict';

// The server's log (LOG_FORMAT): in json every stderr line is an object with time, level and
// message, each find_tools call has one line with its outcome, latency, transport and route,
// the agent id only with DEBUG_AGENT_ID_SOURCE (secrets: secrets.spec.js); the native client's
// warnings come out in the server's format, json or text; stdout in stdio mode stays protocol.
const { parseJSONRPCMessage } = require('@modelcontextprotocol/client');
const { loadGoldens, useGoldenUpstream } = require('../helpers/upstream');
const { startHttpServer, connectHttp, rawRequest } = require('../helpers/server');
const { initializeLine, INITIALIZED_LINE, toolCallLine, startPipe, until } = require('../helpers/stdio-pipe');

const goldens = loadGoldens();
const goldenCase = (name) => goldens.cases.find((c) => c.name === name);
const RESP_FULL = goldenCase('resp-full');
const ERR400 = goldenCase('resp-err400');
const SLOW = goldenCase('resp-slow');
const AGENT = RESP_FULL.args.agent_id;
const REFUSED_AGENT = 'not a valid agent id';
const TIMEOUT_WARNING = 'TOOLS_API_TIMEOUT must be a number of seconds > 0; using the default';
const CALL_MESSAGE = 'find_tools call';

const fixture = useGoldenUpstream(goldens, RESP_FULL);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every complete stderr line, parsed: throws on the first line that is not JSON. */
function jsonLines(stderr) {
  return stderr
    .slice(0, stderr.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const callLines = (stderr) => jsonLines(stderr).filter((line) => line.message === CALL_MESSAGE);

function expectWellFormed(lines) {
  for (const line of lines) {
    expect(new Date(line.time).toISOString()).toBe(line.time);
    expect(['info', 'warning', 'error']).toContain(line.level);
    expect(typeof line.message).toBe('string');
  }
}

function expectLatency(call) {
  expect(typeof call.latency_ms).toBe('number');
  expect(Number.isFinite(call.latency_ms) && call.latency_ms >= 0).toBe(true);
}

/**
 * The server over stdio, fed the lines Letta's client writes: initialize, then a tools/call per
 * args. Once every call is answered stdin ends, and this resolves to the exit and the output.
 */
async function runStdio(extraEnv, calls) {
  const pipe = await startPipe({ ...fixture.env, ...extraEnv });
  await pipe.send([initializeLine('2025-06-18'), INITIALIZED_LINE, ...calls.map((args, index) => toolCallLine(index + 1, args))]);
  await until(() => pipe.stdoutLines().length > calls.length, 'every answer');
  pipe.child.stdin.end();
  return { exit: await pipe.exited(), ...pipe.output };
}

describe('LOG_FORMAT=json over Streamable HTTP and POST /find_tools', () => {
  let server;
  beforeAll(async () => {
    server = await startHttpServer({ ...fixture.env, LOG_FORMAT: 'json' });
  });
  afterAll(() => server.stop());

  test('every line parses; each call has one line with its outcome, latency and route; no agent id', async () => {
    const session = await connectHttp(server.url);
    try {
      await session.call(RESP_FULL.args);
      fixture.upstream.setCase(ERR400);
      await session.call(ERR400.args);
      fixture.upstream.setCase(SLOW);
      expect(await session.call(SLOW.args)).toBe(SLOW.expected_result);
      await session.call({ query: 'q' });
      await session.call({ query: 'q', agent_id: REFUSED_AGENT });
    } finally {
      await session.close();
    }
    fixture.upstream.setCase(RESP_FULL);
    const worker = await rawRequest(`${server.url}/find_tools`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(RESP_FULL.args),
    });
    expect(worker.text).toBe(RESP_FULL.expected_result);

    while (callLines(server.stderr()).length < 6) await sleep(10);
    const lines = jsonLines(server.stderr());
    expectWellFormed(lines);
    const calls = lines.filter((line) => line.message === CALL_MESSAGE);
    expect(calls.map(({ level, outcome, transport, route, refused }) => ({ level, outcome, transport, route, refused }))).toEqual([
      { level: 'info', outcome: 'success', transport: 'http', route: '/mcp', refused: undefined },
      { level: 'info', outcome: 'error', transport: 'http', route: '/mcp', refused: undefined },
      { level: 'info', outcome: 'timeout', transport: 'http', route: '/mcp', refused: undefined },
      { level: 'info', outcome: 'error', transport: 'http', route: '/mcp', refused: 'agent_id' },
      { level: 'info', outcome: 'error', transport: 'http', route: '/mcp', refused: 'agent_id' },
      { level: 'info', outcome: 'success', transport: 'http', route: '/find_tools', refused: undefined },
    ]);
    calls.forEach(expectLatency);
    for (const call of calls) expect(call).not.toHaveProperty('agent_id');
    const stderr = server.stderr();
    expect(stderr).not.toContain(AGENT);
    expect(stderr).not.toContain(REFUSED_AGENT);
  });
});

test('LOG_FORMAT=json over stdio: stdout carries only protocol; DEBUG_AGENT_ID_SOURCE puts the agent id on the call line', async () => {
  const { exit, stdout, stderr } = await runStdio({ LOG_FORMAT: 'json', DEBUG_AGENT_ID_SOURCE: 'true' }, [RESP_FULL.args]);
  expect(exit).toEqual({ code: 0, signal: null });
  const protocol = stdout.split('\n');
  expect(protocol.pop()).toBe('');
  for (const line of protocol) expect(() => parseJSONRPCMessage(JSON.parse(line))).not.toThrow();
  expect(JSON.parse(protocol[1]).result.content[0].text).toBe(RESP_FULL.expected_result);

  const lines = jsonLines(stderr);
  expect(lines.length).toBe(stderr.split('\n').length - 1);
  expectWellFormed(lines);
  const calls = lines.filter((line) => line.message === CALL_MESSAGE);
  expect(calls).toHaveLength(1);
  expect(calls[0]).toMatchObject({ level: 'info', outcome: 'success', transport: 'stdio', agent_id: AGENT, agent_id_source: 'parameter' });
  expect(calls[0]).not.toHaveProperty('route');
  expectLatency(calls[0]);
});

test("LOG_FORMAT=json: the native client's warning is a JSON line, not the addon's text", async () => {
  const { exit, stderr } = await runStdio({ LOG_FORMAT: 'json', TOOLS_API_TIMEOUT: 'abc' }, [RESP_FULL.args]);
  expect(exit).toEqual({ code: 0, signal: null });
  const lines = jsonLines(stderr);
  expect(lines.length).toBe(stderr.split('\n').length - 1);
  expectWellFormed(lines);
  expect(lines.filter((line) => line.level === 'warning')).toEqual([
    expect.objectContaining({ message: TIMEOUT_WARNING, source: 'native' }),
  ]);
});

test("by default the log is text: the native client's warning in the server's text format, no line per call", async () => {
  const { exit, stderr } = await runStdio({ TOOLS_API_TIMEOUT: 'abc' }, [RESP_FULL.args, { query: 'q' }]);
  expect(exit).toEqual({ code: 0, signal: null });
  const lines = stderr.split('\n').filter(Boolean);
  for (const line of lines) expect(line).toMatch(/^\[letta-find-tools-mcp\] (info|warning|error): /);
  expect(lines).toContain(`[letta-find-tools-mcp] warning: ${TIMEOUT_WARNING}`);
  expect(stderr).not.toContain(CALL_MESSAGE);
});

test('an unknown LOG_FORMAT is a warning, and text', async () => {
  const { exit, stderr } = await runStdio({ LOG_FORMAT: 'yaml' }, []);
  expect(exit).toEqual({ code: 0, signal: null });
  const lines = stderr.split('\n').filter(Boolean);
  expect(lines[0]).toBe("[letta-find-tools-mcp] warning: LOG_FORMAT='yaml' is neither text nor json; using text");
  for (const line of lines) expect(line).toMatch(/^\[letta-find-tools-mcp\] (info|warning|error): /);
});
