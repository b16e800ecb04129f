'use strict';

// How a stdio session ends and what a line over the limit does (BEHAVIOUR.md §6), through a raw
// pipe, on the lean path and with the SDK serving (MCP_STDIO_LEAN=false, and the 2026-07-28 era): the
// client's goodbye (stdin closed) gets every answer, a SIGTERM after it cancels what is left,
// and an oversized line is refused without ending the session.

const { startUpstream, answerAfter } = require('../helpers/upstream');
const { initializeLine, INITIALIZED_LINE, toolCallLine, startPipe, runPipe, until, sleep } = require('../helpers/stdio-pipe');
const { MAX_LINE_BYTES } = require('../../src/server/line-reader');

const AGENT = 'agent-goodbye';
const ATTACH_ANSWER = '{"success": true, "message": "attached"}';
// BEHAVIOUR.md §5: what the agent is told of that answer.
const RESULT = '{"status": "success", "message": "attached", "details": null}';
const ARGS = { query: 'q', agent_id: AGENT };
const OPENING = [initializeLine('2025-06-18'), INITIALIZED_LINE];

let letta;
let toolSelector;
let lookupDelayMs = 0;

beforeAll(async () => {
  letta = await startUpstream((req, res) =>
    answerAfter(res, lookupDelayMs, () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify([{ name: 'find_tools', id: 'tool-self' }]));
    }),
  );
  toolSelector = await startUpstream((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(ATTACH_ANSWER);
  });
});
afterAll(() => Promise.all([letta.close(), toolSelector.close()]));
beforeEach(() => {
  letta.requests.length = 0;
  toolSelector.requests.length = 0;
});

const envFor = (extra) => ({
  TOOLS_API_BASE_URL: toolSelector.url,
  TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
  LETTA_API_URL: `${letta.url}/v1`,
  ...extra,
});
const byId = (lines) => Object.fromEntries(lines.map((line) => JSON.parse(line)).map((message) => [message.id, message]));

// The 2026-07-28 era: no initialize, an envelope on every request; the SDK serves it.
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'goodbye-spec', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const modernCallLine = (id, args) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'find_tools', arguments: args, _meta: ENVELOPE } });

describe.each([
  ['the lean path, 2025 era', {}, OPENING, toolCallLine],
  ['the SDK, 2025 era', { MCP_STDIO_LEAN: 'false' }, OPENING, toolCallLine],
  ['the SDK, 2026-07-28 era', {}, [], modernCallLine],
])('over stdio, served by %s', (_, pathEnv, opening, callLine) => {
  const openingIds = opening.length > 0 ? ['0'] : [];

  test('a call written just before stdin closes is answered and attached, then the server exits 0', async () => {
    lookupDelayMs = 300;
    const { exit, lines, stderr } = await runPipe(envFor(pathEnv), [...opening, callLine(1, ARGS), callLine(2, ARGS)]);
    expect(exit).toEqual({ code: 0, signal: null });
    const answers = byId(lines);
    expect(Object.keys(answers).sort()).toEqual([...openingIds, '1', '2']);
    expect(answers[2].result.content).toEqual([{ type: 'text', text: RESULT }]);
    expect(answers[1].result.content).toEqual([{ type: 'text', text: RESULT }]);
    expect(toolSelector.requests).toHaveLength(2);
    expect(stderr).toContain('stdin closed: stopping; 2 call(s) in flight');
  });

  test('a SIGTERM after stdin closed cancels the call in flight: nothing attached, exit at once', async () => {
    lookupDelayMs = 1500;
    const pipe = await startPipe(envFor(pathEnv));
    await pipe.send([...opening, callLine(1, ARGS)]);
    pipe.child.stdin.end();
    await until(() => letta.requests.length === 1, 'the lookup');
    pipe.child.kill('SIGTERM');
    expect(await pipe.exited()).toEqual({ code: 0, signal: null });
    expect(Object.keys(byId(pipe.stdoutLines()))).toEqual(openingIds);
    expect(pipe.output.stderr).toContain('SIGTERM after stdin closed: cancelling 1 call(s) in flight and stopping');
    // Past the moment the lookup is answered, had the call lived on.
    await sleep(lookupDelayMs);
    expect(toolSelector.requests).toEqual([]);
  });

  test('a line over the limit gets a JSON-RPC error with id null, and the session goes on', async () => {
    lookupDelayMs = 0;
    const { exit, lines, stderr } = await runPipe(envFor(pathEnv), [
      ...opening,
      // At the limit: read whole, and skipped as any line that is not JSON.
      'x'.repeat(MAX_LINE_BYTES),
      `{"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"pad": "${'x'.repeat(3 * MAX_LINE_BYTES)}"}}`,
      callLine(1, ARGS),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    const answers = lines.map((line) => JSON.parse(line));
    expect(answers.filter((answer) => answer.id === null)).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: line over ${MAX_LINE_BYTES} bytes` } },
    ]);
    expect(Object.keys(byId(lines)).sort()).toEqual([...openingIds, '1', 'null']);
    expect(byId(lines)[1].result.content).toEqual([{ type: 'text', text: RESULT }]);
    expect(toolSelector.requests).toHaveLength(1);
    expect(stderr).toContain(`stdin: a line over ${MAX_LINE_BYTES} bytes was skipped`);
  });
});
