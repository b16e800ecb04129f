'use strict';

// The stdio lean path (src/server/stdio-lean.js) against the SDK's server: the same lines through
// a raw pipe to a server as it starts by default and to one with MCP_STDIO_LEAN=false (the SDK
// serves every message), stdin closed right after them, must get the same answers byte for byte
// (compared as sorted lines: the order of concurrent answers is not the protocol's).

const { loadGoldens, useGoldenUpstream } = require('../helpers/upstream');
const { attachBodies } = require('../helpers/server');
const { pythonStyle, initializeLine, INITIALIZED_LINE, toolCallLine, toolsListLine, runPipe } = require('../helpers/stdio-pipe');
const { LEAN_PROTOCOL_VERSIONS } = require('../../src/server/stdio-lean');

const goldens = loadGoldens();
const RESP_FULL = goldens.cases.find((c) => c.name === 'resp-full');
const fixture = useGoldenUpstream(goldens, RESP_FULL);

// NODE_DEBUG=module makes node list on stderr every module it loads.
const loadedModules = (stderr) => [...stderr.matchAll(/^MODULE \d+: load "([^"]+)"/gm)].map((match) => match[1]);
const loadedDependencies = (stderr) => loadedModules(stderr).filter((file) => file.includes('node_modules'));

const lettaExchange = (protocolVersion) => [
  initializeLine(protocolVersion),
  INITIALIZED_LINE,
  toolCallLine(1, RESP_FULL.args),
  toolsListLine(2),
];

const OPENING = [initializeLine('2025-06-18'), INITIALIZED_LINE];
const request = (id, method, params) => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined && { params }) });

// Each: the lines a client writes (or {lines, attachDelayMs}). Lean and SDK must answer them alike.
const CORPUS = {
  // Letta's own exchange in every 2025 revision the lean path answers itself.
  ...Object.fromEntries(LEAN_PROTOCOL_VERSIONS.map((version) => [`Letta's exchange, ${version}`, lettaExchange(version)])),
  'a revision neither knows': lettaExchange('1999-01-01'),
  'initialize with every capability the lean path knows, and a title': [
    pythonStyle(
      'initialize',
      {
        protocolVersion: '2025-06-18',
        capabilities: { roots: { listChanged: true }, sampling: {}, elicitation: {} },
        clientInfo: { name: 'c', title: 'C', version: '1' },
      },
      'init',
    ),
    INITIALIZED_LINE,
    toolsListLine('list'),
  ],
  'initialize with capabilities the lean path leaves to the SDK': [
    pythonStyle('initialize', { protocolVersion: '2025-06-18', capabilities: { experimental: { x: {} }, roots: {} }, clientInfo: { name: 'c', version: '1' } }, 7),
    toolsListLine(8),
  ],
  'malformed initialize params': [
    request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: [], clientInfo: { name: 'c', version: '1' } }),
    request(2, 'initialize', { protocolVersion: 2025, capabilities: {}, clientInfo: { name: 'c', version: '1' } }),
    request(3, 'initialize', { protocolVersion: '2025-06-18', capabilities: {} }),
    request(4, 'initialize'),
  ],
  'ping before and after initialized, with and without params': [
    request(1, 'ping'),
    ...OPENING.slice(0, 1),
    request(2, 'ping'),
    INITIALIZED_LINE,
    request(3, 'ping', {}),
    request(4, 'ping', { _meta: {} }),
  ],
  'requests before any initialize': [toolsListLine(1), toolCallLine(2, RESP_FULL.args), initializeLine('2025-06-18', 3)],
  'calls the lean path leaves to the SDK': [
    ...OPENING,
    request(1, 'tools/call', { name: 'find_tools' }),
    request(2, 'tools/call', { name: 'find_tools', arguments: null }),
    request(3, 'tools/call', { name: 'find_tools', arguments: ['a'] }),
    request(4, 'tools/call', { name: 'no_such_tool', arguments: {} }),
    request(5, 'tools/call'),
    request(6, 'tools/call', { name: 'find_tools', arguments: RESP_FULL.args, _meta: { progressToken: 6 } }),
    request(7, 'tools/list', { cursor: 'next' }),
  ],
  'arguments of odd types': [
    ...OPENING,
    toolCallLine(1, { query: 42, agent_id: 'agent-exact', keep_tools: ['a', 7, null], limit: '3', min_score: true, request_heartbeat: 'TRUE', other: { x: 1 } }),
    toolCallLine(2, { query: 'q' }),
    toolCallLine(3, { query: 'q', agent_id: 'bad id!' }),
  ],
  'ids of every kind': [
    ...OPENING,
    request('a string', 'ping'),
    request(-1, 'ping'),
    request(Number.MAX_SAFE_INTEGER, 'ping'),
    request(1.5, 'ping'),
    request(null, 'ping'),
    request(true, 'ping'),
    '{"jsonrpc":"2.0","id":1e3,"method":"ping"}',
    '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}',
  ],
  'lines that are not messages': [
    ...OPENING,
    'this is not json',
    '',
    '{"jsonrpc": "2.0", "id": 2, "method": ',
    '[]',
    JSON.stringify([JSON.parse(request(3, 'ping')), JSON.parse(request(4, 'tools/list'))]),
    '42',
    'null',
    '"ping"',
    JSON.stringify({ jsonrpc: '1.0', id: 5, method: 'ping' }),
    JSON.stringify({ id: 6, method: 'ping' }),
    JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping', extra: true }),
    JSON.stringify({ jsonrpc: '2.0', id: 8 }),
    JSON.stringify({ jsonrpc: '2.0', id: 9, method: 42 }),
    `${request(10, 'ping')}\r`,
    request(11, 'tools/list'),
  ],
  'other methods, before and after the lean path would serve': [
    request(1, 'resources/list'),
    ...OPENING,
    request(2, 'resources/list'),
    request(3, 'prompts/list'),
    request(4, 'logging/setLevel', { level: 'info' }),
    request(5, 'completion/complete', { ref: { type: 'ref/prompt', name: 'x' }, argument: { name: 'a', value: 'b' } }),
    request(6, 'no/such/method'),
    toolsListLine(7),
    toolCallLine(8, RESP_FULL.args),
  ],
  'the SDK takes over mid-session, after a call of the lean path': [...OPENING, toolCallLine(1, RESP_FULL.args), request(2, 'resources/list'), toolsListLine(3), request(4, 'ping')],
  'a second initialize': [...OPENING, initializeLine('2025-03-26', 1), toolsListLine(2)],
  'notifications of every kind': [
    ...OPENING,
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }),
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 99 } }),
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: {} }),
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized', params: { extra: 1 } }),
    JSON.stringify({ jsonrpc: '2.0', method: 'no/such/notification' }),
    toolsListLine(1),
  ],
  'a cancelled call is never answered': {
    // Slow enough that the cancellation, on the next line, always finds the call in flight.
    attachDelayMs: 300,
    lines: [
      ...OPENING,
      toolCallLine(1, RESP_FULL.args),
      JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, reason: 'client gave up' } }),
      toolsListLine(2),
    ],
  },
  'responses from the client': [
    JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} }),
    ...OPENING,
    JSON.stringify({ jsonrpc: '2.0', id: 2, result: {} }),
    JSON.stringify({ jsonrpc: '2.0', id: 3, error: { code: 1, message: 'x' } }),
    toolsListLine(4),
  ],
  'a 2026-07-28 opening': [
    request(1, 'server/discover', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }),
    request(2, 'tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }),
  ],
  'a claim of an unknown revision': [request(1, 'tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } })],
  'a line over the limit': [...OPENING, 'x'.repeat(10 * 1024 * 1024 + 1), toolsListLine(1)],
};

describe.each(Object.entries(CORPUS))('%s', (_, entry) => {
  const { lines, attachDelayMs = 0 } = Array.isArray(entry) ? { lines: entry } : entry;
  test('gets the same answers from the lean path and the SDK, and both exit 0', async () => {
    fixture.upstream.setCase({ ...RESP_FULL, attach_response: { ...RESP_FULL.attach_response, delay_ms: attachDelayMs } });
    const lean = await runPipe(fixture.env, lines);
    const sdk = await runPipe({ ...fixture.env, MCP_STDIO_LEAN: 'false' }, lines);
    expect(lean.exit).toEqual({ code: 0, signal: null });
    expect(sdk.exit).toEqual({ code: 0, signal: null });
    expect(sdk.lines.length).toBeGreaterThan(0);
    expect([...lean.lines].sort()).toEqual([...sdk.lines].sort());
  });
});

describe('what the lean path loads', () => {
  test("Letta's exchange loads no dependency at all, and gets the call's answer", async () => {
    const lean = await runPipe({ ...fixture.env, NODE_DEBUG: 'module' }, lettaExchange('2025-06-18'));
    expect(lean.exit).toEqual({ code: 0, signal: null });
    expect(loadedModules(lean.stderr)).toContainEqual(expect.stringMatching(/stdio-lean\.js$/));
    expect(loadedDependencies(lean.stderr)).toEqual([]);
    expect(lean.lines.map((line) => JSON.parse(line).id).sort()).toEqual([0, 1, 2]);
    expect(attachBodies(fixture.upstream)).toEqual([RESP_FULL.expected_requests.at(-1).body]);
  });

  test('the SDK is loaded once a message needs it, and prom-client never', async () => {
    const lean = await runPipe({ ...fixture.env, NODE_DEBUG: 'module' }, [...OPENING, request(1, 'resources/list')]);
    const dependencies = loadedDependencies(lean.stderr);
    expect(dependencies).toContainEqual(expect.stringContaining('@modelcontextprotocol/server'));
    expect(dependencies.filter((file) => file.includes('prom-client'))).toEqual([]);
  });
});
