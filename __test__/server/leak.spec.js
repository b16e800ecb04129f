'use strict';

// No tools/call leaks through the MCP server: the real server process (with --expose-gc and the
// collection-probe.js preload) answers 10,000 calls of the SDK client, 32 in flight, over each
// transport; afterwards every AbortSignal it made for them has been collected, one collection
// reclaims every HTTP response, and its heap is back to what it was after warm-up. The
// direct-call half of this proof is addon/signals.spec.js.
const events = require('node:events');
const http = require('node:http');
const path = require('node:path');
const { serveOnLoopback, agentToolsPath } = require('../helpers/upstream');
const { connectStdio, startHttpServer, connectHttp, untilLogged } = require('../helpers/server');

const PRELOAD = path.join(__dirname, '..', 'fixtures', 'collection-probe.js');
const CALLS = 10000;
const WARM_UP_CALLS = 1000;
const IN_FLIGHT = 32;
const AGENT_ID = 'agent-1';
const ARGS = { query: 'q', agent_id: AGENT_ID };
const OK_BODY = '{"success": true, "message": "ok", "details": null}';
const OK_LINE = '{"status": "success", "message": "ok", "details": null}';

// A live connection may legitimately keep its last request's objects, signal included,
// reachable until the next request replaces them (the transport's last message, a keep-alive
// socket's last request): at most one per call in flight. Measured with the fix: none left;
// with the pre-fix addon: every one of the 11,000, over either transport.
const UNCOLLECTED_SLACK = IN_FLIGHT;
// Measured between the probes: under 0.5 MB with the fix; with the pre-fix addon's leak,
// +8 MB over stdio and +96 MB over Streamable HTTP.
const HEAP_SLACK_BYTES = 3 * 1024 * 1024;

// Not a timing assertion: a run that takes this long is hung, and jest says so.
jest.setTimeout(180000);

// The agent's tools as Letta lists them; the client caches the find_tools id it finds there.
const AGENT_TOOLS = JSON.stringify([{ id: 'tool-ft', name: 'find_tools' }]);

// Letta's API and the Tool Selector on one loopback server that answers the real path of a
// call: the agent's tools (looked up once, then cached), then the attach. It counts requests
// rather than recording them, so the test process stays lean while it drives 10,000 calls.
async function startLeanUpstream() {
  const counts = { lookups: 0, attaches: 0, others: 0 };
  const server = http.createServer((req, res) => {
    req.resume().on('end', () => {
      if (req.method === 'GET' && req.url === agentToolsPath(AGENT_ID)) {
        counts.lookups += 1;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(AGENT_TOOLS);
      }
      if (req.method === 'POST' && req.url === '/api/v1/tools/attach') {
        counts.attaches += 1;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(OK_BODY);
      }
      counts.others += 1;
      res.writeHead(404);
      return res.end();
    });
  });
  return { ...(await serveOnLoopback(server)), counts };
}

/** Makes `count` calls, IN_FLIGHT at a time; resolves to the results that are not exactly OK_LINE. */
async function callMany(callResult, count) {
  const wrong = [];
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started += 1;
      const result = await callResult(ARGS);
      const exact = result.content?.length === 1 && result.content[0].type === 'text' && result.content[0].text === OK_LINE;
      if (!exact || result.isError !== undefined) wrong.push(result);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return wrong;
}

/** Asks the server's preload for its counts after a forced full collection. */
async function probe({ pid, stderr }) {
  const probeNumber = (stderr().match(/^leak-probe /gm) ?? []).length + 1;
  const marker = `leak-probe {"probe":${probeNumber},`;
  process.kill(pid, 'SIGUSR2');
  await untilLogged(stderr, marker);
  const line = stderr().slice(stderr().indexOf(marker)).split('\n')[0];
  return JSON.parse(line.slice('leak-probe '.length));
}

/**
 * The SDK client's HTTP transport passes one long-lived AbortSignal to every fetch, and Node's
 * fetch drops its abort listener on it only once that request is garbage-collected: thousands
 * pile up here between collections, and Node warns once per listener. That is this test
 * process, not the server under test; a signal takes its limit from the default when it is made.
 */
async function connectWithoutListenerLimit(connect) {
  const { defaultMaxListeners } = events;
  events.defaultMaxListeners = 0;
  try {
    return await connect();
  } finally {
    events.defaultMaxListeners = defaultMaxListeners;
  }
}

const TRANSPORTS = [
  [
    'stdio',
    false,
    async (env) => {
      const session = await connectStdio(env);
      return { session, pid: session.client.transport.pid, stderr: session.stderr, stop: () => session.close() };
    },
  ],
  [
    'Streamable HTTP',
    true,
    async (env) => {
      const server = await startHttpServer(env);
      const session = await connectWithoutListenerLimit(() => connectHttp(server.url));
      return {
        session,
        pid: server.child.pid,
        stderr: server.stderr,
        async stop() {
          await session.close();
          await server.stop();
        },
      };
    },
  ],
];

describe.each(TRANSPORTS)('10,000 tools/calls over %s', (_transport, overHttp, start) => {
  let upstream;
  let server;
  beforeAll(async () => {
    upstream = await startLeanUpstream();
    server = await start({
      TOOLS_API_BASE_URL: upstream.url,
      TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
      LETTA_API_URL: `${upstream.url}/v1`,
      // The helpers spawn `node src/index.js`; this makes it `node --expose-gc --require <preload> src/index.js`.
      NODE_OPTIONS: `--expose-gc --require ${JSON.stringify(PRELOAD)}`,
    });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  test('every AbortSignal made for them is collected, one collection reclaims their responses, and the heap returns to its baseline', async () => {
    // Warm-up, so the baseline includes what the first calls allocate once (pools, caches, JIT).
    expect(await callMany(server.session.callResult, WARM_UP_CALLS)).toEqual([]);
    const baseline = await probe(server);

    expect(await callMany(server.session.callResult, CALLS)).toEqual([]);
    const after = await probe(server);

    expect(upstream.counts).toMatchObject({ attaches: WARM_UP_CALLS + CALLS, others: 0 });
    expect(upstream.counts.lookups).toBeGreaterThan(0);
    const report = {
      madeForTheCalls: after.created - baseline.created,
      uncollected: after.created - after.collected,
      heapGrowthBytes: after.heapUsed - baseline.heapUsed,
      responsesMade: after.responsesMade - baseline.responsesMade,
      responsesLeftByOneCollection: after.responsesLeftByOneCollection,
    };
    // The SDK makes at least one per tools/call: fewer would mean the preload counts nothing.
    expect(report.madeForTheCalls).toBeGreaterThanOrEqual(CALLS);
    expect(report.uncollected).toBeLessThanOrEqual(UNCOLLECTED_SLACK);
    expect(report.heapGrowthBytes).toBeLessThan(HEAP_SLACK_BYTES);
    // Over HTTP each call is a response, and none outlives the first collection after its call.
    expect([overHttp, report.responsesMade >= CALLS]).toEqual([overHttp, overHttp]);
    expect(report.responsesLeftByOneCollection).toBeLessThanOrEqual(UNCOLLECTED_SLACK);
  });
});
