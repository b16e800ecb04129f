'use strict';

// An HTTP client that leaves before its answer cancels its call (BEHAVIOUR.md §8), in both MCP
// eras and on POST /find_tools, however the server's garbage collector has run in between: the
// Letta API never answers, so each call sits in its find_tools lookup (half of TOOLS_API_TIMEOUT)
// when its client goes, and a call that is not cancelled goes on to attach at the sandbox Tool
// Selector once the lookup gives up.

const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { startSandbox } = require('../../sandbox/server');
const { serveOnLoopback } = require('../helpers/upstream');
const { startHttpServer, connectHttp, rawRequest } = require('../helpers/server');

// The soak's collection trigger: SIGUSR2 runs a full collection in the server, which says so.
const GC_ON_SIGNAL = path.join(__dirname, '..', '..', 'bench', 'lib', 'gc-on-signal.js');
const COLLECTED = /collected\n/g;
const POLL_MS = 20;
// Not timing assertions: bounds after which a wait has failed (a lookup gives up after 2 s).
const WAIT_MS = 10000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once check() resolves truthy; rejects, naming what, after WAIT_MS. */
async function until(what, check) {
  for (let waited = 0; waited < WAIT_MS; waited += POLL_MS) {
    if (await check()) return;
    await sleep(POLL_MS);
  }
  throw new Error(`still waiting for ${what} after ${WAIT_MS} ms`);
}

let sandbox;
let letta;
let server;

beforeAll(async () => {
  sandbox = await startSandbox();
  // Accepts every connection and never answers.
  letta = await serveOnLoopback(net.createServer(() => {}));
  const env = {
    TOOLS_API_BASE_URL: sandbox.toolSelectorUrl,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: `${letta.url}/v1`,
    TOOLS_API_TIMEOUT: '4',
  };
  server = await startHttpServer(env, ['--expose-gc', '-r', GC_ON_SIGNAL]);
});

afterAll(async () => {
  const exit = await server?.stop();
  await Promise.all([letta?.close(), sandbox?.close()]);
  expect(exit).toEqual({ code: 0, signal: null });
});

const attaches = () => sandbox.requests.filter((request) => request.to === 'tool_selector');
const health = async () => JSON.parse((await rawRequest(`${server.url}/health`)).text);

/** A full collection in the server, once the call is waiting on the Letta API. */
async function collectWhileWaiting(lookupsBefore) {
  await until('the call to reach the Letta API', () => letta.connections() > lookupsBefore);
  const collectedBefore = server.stderr().match(COLLECTED)?.length ?? 0;
  server.child.kill('SIGUSR2');
  await until('the collection', () => (server.stderr().match(COLLECTED)?.length ?? 0) > collectedBefore);
}

// Each starts a call for agentId, runs `collected` once the call waits on Letta, then leaves.
const CLIENTS = {
  'MCP, 2025 era (the official client, as Letta speaks)': (agentId, collected) => leaveMcpCall('legacy', agentId, collected),
  'MCP, 2026-07-28 era (the official client)': (agentId, collected) => leaveMcpCall('modern', agentId, collected),
  async 'POST /find_tools (a raw request)'(agentId, collected) {
    const req = http.request(`${server.url}/find_tools`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'x-agent-id': agentId },
      agent: false,
    });
    const gone = new Promise((resolve) => req.on('close', resolve));
    req.on('error', () => {});
    req.end(JSON.stringify({ query: 'weather' }));
    try {
      await collected();
    } finally {
      req.destroy();
    }
    await gone;
  },
};

async function leaveMcpCall(negotiation, agentId, collected) {
  const session = await connectHttp(server.url, { 'x-agent-id': agentId }, negotiation);
  try {
    const leave = new AbortController();
    const call = session.client.callTool({ name: 'find_tools', arguments: { query: 'weather' } }, { signal: leave.signal });
    await collected();
    leave.abort();
    await expect(call).rejects.toThrow();
  } finally {
    await session.close();
  }
}

test.each(Object.keys(CLIENTS))('%s: a client that leaves mid-call cancels it, after a collection too', async (name) => {
  const agentId = `agent-leaves-${Object.keys(CLIENTS).indexOf(name)}`;
  const lookupsBefore = letta.connections();
  sandbox.requests.length = 0;

  await CLIENTS[name](agentId, () => collectWhileWaiting(lookupsBefore));

  // A call not cancelled stays in flight until its lookup gives up, then attaches.
  await until('nothing in flight', async () => {
    const { inFlight, stats } = await health();
    return inFlight === 0 && stats.inFlight === 0;
  });
  expect(attaches()).toEqual([]);
  expect(server.stderr()).not.toMatch(/error:/);
});
