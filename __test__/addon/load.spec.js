'use strict';

// Load: 10,000 concurrent findTools() calls against an upstream that answers in 100 ms, in one
// thread and split across 4 worker_threads. Every call resolves to the right line, the upstream
// never sees more sockets than the `connections` limit, memory and file descriptors come back
// to their baseline, and the process exits by itself. The calls run in a child process
// (fixtures/measure-child.js) so that jest's own memory does not blur the measurements.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { startUpstream, answerAfter } = require('../helpers/upstream');

const CHILD = path.join(__dirname, '..', 'fixtures', 'measure-child.js');
const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: { load: true } });
const OK_LINE = '{"status": "success", "message": "ok", "details": {"load": true}}';
const CALLS = 10000;

// Tolerances: the first burst of a process sets the allocator's high-water mark (glibc keeps
// freed pages for reuse), so the baseline is taken after an identical warm-up burst and the
// measured burst must not add to it beyond this.
const RSS_SLACK_MB = 24;
const HEAP_SLACK_MB = 4;

let upstream;
let maxOpenSockets = 0;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    maxOpenSockets = Math.max(maxOpenSockets, upstream.openSockets());
    answerAfter(res, 100, () => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(OK_BODY) });
      res.end(OK_BODY);
    });
  });
});

afterAll(() => upstream.close());

beforeEach(() => {
  maxOpenSockets = 0;
  upstream.requests.length = 0;
});

/**
 * Runs the child and resolves with its report, how long it took to exit after reporting, and
 * how it exited. A child still alive 60 s after starting is hung: it is killed and says so.
 */
function runChild(mode, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', CHILD, mode], {
      env: { PATH: process.env.PATH, UPSTREAM_URL: upstream.url, CALLS: String(CALLS), ...env },
    });
    let stdout = '';
    let stderr = '';
    let reportedAt = null;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (reportedAt === null && stdout.includes('\n')) reportedAt = Date.now();
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const hung = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(hung);
      const report = stdout.trim() ? JSON.parse(stdout.split('\n')[0]) : null;
      resolve({ code, signal, report, stderr, exitDelayMs: reportedAt === null ? null : Date.now() - reportedAt });
    });
  });
}

function expectBackToBaseline({ before, after }) {
  expect(after.fds).toBeLessThanOrEqual(before.fds);
  expect(after.rssMb).toBeLessThan(before.rssMb + RSS_SLACK_MB);
}

test(`${CALLS} concurrent calls on one client: all resolve, sockets bounded, memory and fds back to baseline`, async () => {
  const connections = 400;
  const { code, signal, report, stderr, exitDelayMs } = await runChild('burst', { CONNECTIONS: String(connections) });
  expect(stderr).not.toMatch(/panic|Segmentation|Abort|Error/);
  expect(report.error).toBeUndefined();
  expect(report.lines).toEqual({ [OK_LINE]: CALLS });
  expect(maxOpenSockets).toBeLessThanOrEqual(connections);
  expect(report.stats).toMatchObject({ inFlight: 0, errors: 0, timeouts: 0, calls: 2 * CALLS });
  expect(report.stats.connectionsOpened).toBeLessThanOrEqual(2 * connections); // one pool per burst
  expectBackToBaseline(report);
  expect(report.after.heapMb).toBeLessThan(report.before.heapMb + HEAP_SLACK_MB);
  // Not a timing assertion: a process that lingers with nothing to do is hung.
  expect(signal).toBeNull();
  expect(code).toBe(0);
  expect(exitDelayMs).toBeLessThan(5000);
}, 90000);

test(`${CALLS} concurrent calls split across 4 worker_threads`, async () => {
  const connections = 100;
  const { code, signal, report, stderr, exitDelayMs } = await runChild('workers', {
    CONNECTIONS: String(connections),
    WORKERS: '4',
  });
  expect(stderr).not.toMatch(/panic|Segmentation|Abort|Error/);
  expect(report.error).toBeUndefined();
  expect(report.results).toHaveLength(4);
  for (const result of report.results) {
    expect(result.code).toBe(0);
    expect(result.lines).toEqual({ [OK_LINE]: CALLS / 4 });
    expect(result.stats).toMatchObject({ inFlight: 0, errors: 0, calls: CALLS / 4 });
    expect(result.stats.connectionsOpened).toBeLessThanOrEqual(connections);
  }
  // Each worker's client has its own pool of at most `connections` sockets.
  expect(maxOpenSockets).toBeLessThanOrEqual(4 * connections);
  expectBackToBaseline(report);
  expect(signal).toBeNull();
  expect(code).toBe(0);
  expect(exitDelayMs).toBeLessThan(5000);
}, 90000);
