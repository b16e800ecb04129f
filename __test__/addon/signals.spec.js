'use strict';

// What a call takes from JS is given back: the signals of 10,000 calls are all collected and
// the heap returns to its baseline, on every way a call settles (each run in a child process
// with --expose-gc). And every promise settles: signals and options whose code throws, Proxies,
// frozen objects, other realms and threads reject with the caller's own error or proceed as if
// no signal were given; none hangs, none leaves an uncaught exception behind.
const { getEventListeners } = require('node:events');
const path = require('node:path');
const { runNode } = require('../helpers/child');
const { localClient } = require('../helpers/client');
const { startUpstream, answerAfter } = require('../helpers/upstream');

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const OK_BODY = '{"success": true, "message": "ok", "details": null}';
const OK_LINE = '{"status": "success", "message": "ok", "details": null}';

async function runChild(args, env = {}, options = {}) {
  const { stdout, ...exit } = await runNode(args, { env, ...options });
  const report = stdout.trim() ? JSON.parse(stdout.trim().split('\n').at(-1)) : null;
  return { ...exit, report };
}

describe('every JS reference a call takes is released when it settles', () => {
  const CALLS = 10000;
  // 10,000 leaked AbortSignals hold well over 10 MB of heap; a settled, released one holds none.
  const HEAP_SLACK_BYTES = 2 * 1024 * 1024;

  test.each([
    ['success', 'resolved'],
    ['upstream-error', 'resolved'],
    ['timeout', 'resolved'],
    ['abort-before', 'rejected'],
    ['abort-during', 'rejected'],
    ['client-closed', 'rejected'],
  ])('%s: every signal is collected and the heap returns to its baseline', async (name, settles) => {
    const { code, signal, report, stderr } = await runChild(
      ['--expose-gc', path.join(FIXTURES, 'signal-leak.js'), name],
      { CALLS: String(CALLS) },
    );
    expect(stderr).not.toMatch(/panic|Segmentation|Abort|not unref/i);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(report.outcomes[settles]).toBe(report.calls);
    expect(report.collected).toBe(report.calls);
    expect(report.heapGrowthBytes).toBeLessThan(HEAP_SLACK_BYTES);
  });

  test('a worker thread exiting with calls in flight: collected before, no crash after', async () => {
    const { code, signal, report, stderr } = await runChild(
      ['--expose-gc', path.join(FIXTURES, 'signal-leak.js'), 'worker-exit'],
      { CALLS: '2000' },
    );
    expect(stderr).not.toMatch(/panic|Segmentation|Abort|not unref/i);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(report.workers).toEqual([2000, 2000, 2000]);
    expect(report.mainHeapGrowthBytes).toBeLessThan(HEAP_SLACK_BYTES);
  });
});

describe('every promise settles, whatever the signal or options do', () => {
  let upstream;
  let slow;
  beforeAll(async () => {
    upstream = await startUpstream((req, res) => res.end(OK_BODY));
    // Answers long after every call here is over; close() ends the timers with the sockets.
    slow = await startUpstream((req, res) => answerAfter(res, 60000, () => res.end(OK_BODY)));
  });
  afterAll(() => Promise.all([upstream.close(), slow.close()]));

  test('a signal shared by many calls is left with no listener of theirs once they are over', async () => {
    const client = localClient(upstream.url, { FIND_TOOLS_TOOL_ID: 't' });
    const controller = new AbortController();
    const { signal } = controller;
    for (let i = 0; i < 50; i += 1) expect(await client.findTools({ query: 'q' }, { signal })).toBe(OK_LINE);
    const lines = await Promise.all(Array.from({ length: 8 }, () => client.findTools({ query: 'q' }, { signal })));
    expect(lines).toEqual(Array(8).fill(OK_LINE));
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    client.close();
  });

  const resolves = { settled: 'resolved', value: OK_LINE };
  const rejects = (message, name = 'Error') => ({ settled: 'rejected', name, message });
  // Node 24 cannot listen to a frozen AbortSignal (addEventListener throws a TypeError): there the
  // call rejects with that error and sends nothing; earlier Nodes listen, and the call proceeds.
  const frozenSignal = (() => {
    try {
      Object.freeze(new AbortController().signal).addEventListener('abort', () => {});
      return { expected: resolves, sent: 1 };
    } catch (error) {
      return { expected: rejects(error.message, error.name), sent: 0 };
    }
  })();

  test.each([
    ['addEventListener throws', rejects('addEventListener threw'), 0],
    ['removeEventListener throws', resolves, 1],
    ['aborted getter throws', rejects('aborted threw'), 0],
    ['reason getter throws, aborted before the call', rejects('reason threw'), 0],
    ['reason getter throws, aborted during the call', rejects('reason threw'), null],
    ['a real AbortSignal whose reason getter throws', rejects('reason threw'), null],
    ['a real AbortSignal whose removeEventListener throws', resolves, 1],
    ['a Proxy of a real AbortSignal, aborted during the call', rejects('This operation was aborted', 'AbortError'), null],
    ['a Proxy of a real AbortSignal, not aborted', resolves, 1],
    ['a Proxy signal whose get trap throws', rejects('get trap threw'), 0],
    ['a Proxy signal that forwards to a fake signal, aborted during the call', rejects('proxied abort'), null],
    ['a Proxy as options whose get trap throws', rejects('options get trap threw'), 0],
    ['a Proxy as options around a real signal, aborted during the call', rejects('This operation was aborted', 'AbortError'), null],
    ['a frozen options object, aborted during the call', rejects('This operation was aborted', 'AbortError'), null],
    ['a frozen options object with a frozen signal, not aborted', frozenSignal.expected, frozenSignal.sent],
    ['a signal from a vm context, aborted during the call', rejects('vm abort'), null],
    ['options from a vm context, not aborted', resolves, 1],
    ['a signal posted through a MessagePort', rejects('options.signal must be an AbortSignal', 'TypeError'), 0],
    ['a signal made and aborted in a worker thread', rejects('This operation was aborted', 'AbortError'), null],
  ])('%s', async (name, expected, sent) => {
    const before = upstream.requests.length + slow.requests.length;
    const { code, signal, report, stderr } = await runChild([path.join(FIXTURES, 'signal-cases.js'), name], {
      UPSTREAM_URL: upstream.url,
      SLOW_UPSTREAM_URL: slow.url,
    });
    expect(stderr).not.toMatch(/panic|Segmentation|Abort|not unref/i);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const { seen, ...settled } = report;
    expect(settled).toEqual(expected);
    expect(seen).toEqual([]);
    // Rejected before the call started: nothing was sent. An abort during the call may land
    // before or after the request reaches the upstream (null: not checked).
    if (sent !== null) expect(upstream.requests.length + slow.requests.length - before).toBe(sent);
  });
});
