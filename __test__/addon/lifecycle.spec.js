'use strict';

// The addon inside real processes and worker threads: the default client, exiting promptly
// with idle pooled sockets, process.exit() with calls in flight, four workers at once, workers
// torn down under pending calls, and async context across the hop to the runtime and back.
const { AsyncLocalStorage } = require('node:async_hooks');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { runNode } = require('../helpers/child');
const { localClient } = require('../helpers/client');
const { startUpstream } = require('../helpers/upstream');

const CHILD = path.join(__dirname, '..', 'fixtures', 'child.js');
const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: { a: 1 } });
const OK_LINE = '{"status": "success", "message": "ok", "details": {"a": 1}}';

async function runChild(mode, env, { killAfterMs = 20000 } = {}) {
  const { stdout, ...exit } = await runNode([CHILD, mode], { env, killAfterMs });
  const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { ...exit, lines };
}

let upstream;
beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(req.method === 'GET' ? '[{"name": "find_tools", "id": "tool-ft"}]' : OK_BODY);
  });
});
afterAll(() => upstream.close());

const envFor = (extra = {}) => ({
  TOOLS_API_BASE_URL: upstream.url,
  TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
  LETTA_API_URL: upstream.url,
  ...extra,
});

test('the default client reads process.env once and the process exits on its own', async () => {
  const { code, signal, lines } = await runChild('default-client', envFor({ FIND_TOOLS_MAX_LIMIT: '3' }));
  expect(signal).toBeNull();
  expect(code).toBe(0);
  expect(lines[0].line).toBe(OK_LINE);
  expect(lines[0].stats).toMatchObject({ calls: 1, upstreamRequests: 2, connectionsOpened: 1, inFlight: 0 });
  const attach = upstream.requests.filter((r) => r.method === 'POST').at(-1);
  expect(attach.body).toBe(
    '{"limit": 3, "min_score": 50.0, "keep_tools": ["tool-ft"], "request_heartbeat": false, "query": "q", "agent_id": "agent-1"}',
  );
});

test('process.exit() with calls in flight neither hangs nor crashes', async () => {
  const slow = await startUpstream(() => new Promise(() => {}));
  const { code, signal, lines, stderr } = await runChild(
    'exit-in-flight',
    { TOOLS_API_BASE_URL: slow.url, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', FIND_TOOLS_TOOL_ID: 't' },
  );
  await slow.close();
  expect(signal).toBeNull();
  expect(code).toBe(0);
  expect(lines[0]).toEqual({ exiting: true, inFlight: 20 });
  expect(stderr).not.toMatch(/panic|Segmentation|Abort/i);
});

test('four worker threads use the addon at once', async () => {
  const env = envFor({ FIND_TOOLS_TOOL_ID: 'tool-ft' });
  const runWorker = () =>
    new Promise((resolve, reject) => {
      const worker = new Worker(CHILD, { workerData: { env, calls: 25 } });
      let result;
      worker.on('message', (m) => (result = m));
      worker.on('error', reject);
      worker.on('exit', (code) => resolve({ code, result }));
    });
  const results = await Promise.all([runWorker(), runWorker(), runWorker(), runWorker()]);
  for (const { code, result } of results) {
    expect(code).toBe(0);
    expect(result.lines).toEqual(Array(25).fill(OK_LINE));
    expect(result.stats).toMatchObject({ calls: 25, inFlight: 0 });
  }
});

test('the main thread keeps calling after worker threads that used the addon have exited', async () => {
  const { code, signal, lines } = await runChild('after-workers', envFor({ FIND_TOOLS_TOOL_ID: 'tool-ft' }));
  expect(signal).toBeNull();
  expect(code).toBe(0);
  expect(lines[0].line).toBe(OK_LINE);
});

test('a worker terminated with calls in flight leaves the process and the runtime working', async () => {
  // Answers come late, so the worker is gone before any of its calls can settle.
  const late = await startUpstream(
    (req, res) =>
      new Promise((resolve) => {
        setTimeout(() => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(OK_BODY);
          resolve();
        }, 300);
      }),
  );
  const { code, signal, lines, stderr } = await runChild(
    'terminate-in-flight',
    { TOOLS_API_BASE_URL: late.url, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', FIND_TOOLS_TOOL_ID: 'tool-ft' },
  );
  const attaches = late.requests.filter((r) => r.method === 'POST').length;
  await late.close();
  expect(stderr).not.toMatch(/panic|Segmentation|Abort/i);
  expect(signal).toBeNull();
  expect(code).toBe(0);
  expect(lines[0].line).toBe(OK_LINE);
  expect(lines[0].stats).toMatchObject({ calls: 1, inFlight: 0 });
  // The worker's ten calls really were upstream when it was terminated.
  expect(attaches).toBe(11);
});

test('async context set before a call is the context after it resolves', async () => {
  const client = localClient(upstream.url, { FIND_TOOLS_TOOL_ID: 'tool-ft' });
  const context = new AsyncLocalStorage();
  const seen = await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      context.run({ name }, async () => {
        const line = await client.findTools({ query: name });
        return { line, name: context.getStore().name };
      }),
    ),
  );
  client.close();
  expect(seen).toEqual(['a', 'b', 'c'].map((name) => ({ line: OK_LINE, name })));
});
