'use strict';

// What is measured: each case is a set of lanes (a path in a mode) against one upstream
// configuration, and the phases every lane runs in each round.

const { DEFAULT_ATTACHMENTS } = require('./payloads');

const ALL_PATHS = ['native', 'undici-legacy', 'undici-cached', 'fetch-legacy', 'fetch-cached', 'spawn', 'worker'];
const PAYLOAD_SIZES = [DEFAULT_ATTACHMENTS, 20, 200, 2000];

const lane = (path, mode = 'lookup', label = undefined) => ({ id: `${path}/${mode}`, path, mode, label });

function phasesFor(settings, { concurrency = settings.concurrency, sporadic = true } = {}) {
  return [
    { id: 'sequential', shape: 'sequential', calls: settings.sequentialCalls, keepSamples: true },
    ...concurrency.map((inFlight) => ({ id: `c${inFlight}`, shape: 'closed', concurrency: inFlight, durationMs: settings.phaseMs })),
    ...(sporadic ? [{ id: 'sporadic', shape: 'sporadic', calls: settings.sporadicCalls, intervalMs: settings.sporadicIntervalMs, keepSamples: true }] : []),
  ];
}

function buildCases(settings) {
  const everyPath = ALL_PATHS.map((path) => lane(path));
  const cases = [
    {
      id: 'main',
      title: 'find_tools with an agent id (lookup + attach), http',
      note: 'Each path does the whole find_tools job its own way: the native client and the "cached" ports look the find_tools id up once (cache), the "lookup per call" ports, the spawned script and the worker look it up on every call, like legacy.',
      scheme: 'http',
      lanes: everyPath,
      phases: phasesFor(settings),
    },
    {
      id: 'attach',
      title: 'attach only (find_tools id configured), http',
      note: 'One POST per call on every path: the native client with FIND_TOOLS_TOOL_ID, the JS ports with a fixed id, and a raw undici POST of the finished body (no argument handling, no re-spelling): the floor of any JS client.',
      scheme: 'http',
      lanes: [
        lane('native', 'fixed-id', 'native findTools(), fixed id'),
        lane('undici-cached', 'fixed-id', 'undici.Pool port, fixed id'),
        lane('undici-cached', 'raw', 'raw undici POST'),
        lane('fetch-cached', 'fixed-id', 'fetch port, fixed id'),
      ],
      phases: phasesFor(settings, { sporadic: false }),
      explain: true,
    },
    {
      id: 'optimisations',
      title: 'what the native choices buy, http',
      note: 'The same native client with 2 tokio workers instead of 1, and without its lookup cache (lookup + attach on every call), next to the legacy-faithful undici port doing the same two requests.',
      scheme: 'http',
      lanes: [
        lane('native'),
        lane('native-2w'),
        lane('native', 'no-cache', 'native, no lookup cache'),
        lane('undici-legacy'),
      ],
      phases: phasesFor(settings),
      explain: true,
    },
    {
      id: 'tls',
      title: 'find_tools with an agent id, https (self-signed CA via NODE_EXTRA_CA_CERTS / SSL_CERT_FILE)',
      note: 'Where pooling matters most: every fresh connection costs a TLS handshake.',
      scheme: 'https',
      lanes: everyPath,
      phases: phasesFor(settings),
    },
    {
      id: 'server',
      title: 'tools/call through the MCP server, as an SDK v2 client sees it, http upstream',
      note: 'The client in the driver, the server in a child process (its CPU and RSS counted): this package\'s server with the native client (find_tools id configured, so one POST per call), an SDK v2 server whose tools/call is one raw undici POST of the finished body (the floor of any forwarding server), and the server rolled back to spawning the legacy-style script per call.',
      scheme: 'http',
      lanes: [
        lane('server-native-stdio', 'stdio', 'MCP server, native, stdio'),
        lane('server-forwarding-stdio', 'stdio', 'forwarding floor, stdio'),
        ...(settings.serverBefore ? [lane('server-before-stdio', 'stdio', 'earlier MCP server, native, stdio')] : []),
        lane('server-native-http', 'http', 'MCP server, native, HTTP'),
        lane('server-forwarding-http', 'http', 'forwarding floor, HTTP'),
        ...(settings.serverBefore ? [lane('server-before-http', 'http', 'earlier MCP server, native, HTTP')] : []),
        lane('server-spawn-stdio', 'stdio', 'MCP server, legacy script, stdio'),
      ],
      serverMemory: true,
      phases: phasesFor(settings, { concurrency: [16], sporadic: false }),
    },
    ...PAYLOAD_SIZES.map((attachments) => ({
      id: `payload-${attachments}`,
      title: `payload: ${attachments} attached tools in the answer, http`,
      group: 'payload',
      attachments,
      scheme: 'http',
      lanes: [lane('native'), lane('undici-cached')],
      phases: phasesFor(settings, { concurrency: [64], sporadic: false }),
    })),
  ];
  return settings.cases ? cases.filter((c) => settings.cases.includes(c.id) || settings.cases.includes(c.group)) : cases;
}

module.exports = { buildCases };
