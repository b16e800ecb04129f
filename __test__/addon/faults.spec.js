'use strict';

// Faults: hostile upstreams on 127.0.0.1 (raw `net` servers and `http` servers). Each fault
// resolves to its line (BEHAVIOUR.md §5), never rejects, and leaves the process healthy: after
// every test a call on a healthy upstream still succeeds and nothing is left in flight.
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { ToolSelectorClient } = require('../..');
const { startUpstream } = require('../helpers/upstream');
const { localClient } = require('../helpers/client');
const { startRawUpstream, head, refusedPort } = require('../fixtures/hostile-upstream');

const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: { a: 1 } });
const OK_LINE = '{"status": "success", "message": "ok", "details": {"a": 1}}';
const TIMED_OUT = '{"status": "error", "message": "Tool attach request timed out."}';
const UNREACHABLE = '{"status": "error", "message": "Failed to contact tool selector API."}';
const TOO_LARGE = '{"status": "error", "message": "Tool selector response exceeded the size limit."}';
const FALLBACK_ID = 'tool-e34b5c60-5bd5-4288-a97f-2167ddf3062b';
// Not a timing assertion: a call that has not settled this long after its timeout is hung.
const HUNG_MS = 8000;

const okResponse = (body = OK_BODY) =>
  head(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }) + body;

const clientFor = (url, env, options) => localClient(url, { FIND_TOOLS_TOOL_ID: 'tool-ft', ...env }, options);

/** The call's line and how long it took. */
async function timed(promise) {
  const started = Date.now();
  const line = await promise;
  return { line, ms: Date.now() - started };
}

let healthy;
let healthyClient;
const opened = [];

beforeAll(async () => {
  healthy = await startUpstream((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(OK_BODY);
  });
  healthyClient = clientFor(healthy.url);
});

afterAll(async () => {
  healthyClient.close();
  await healthy.close();
});

// Every test registers what it opens; afterEach checks the process is still healthy.
function track(...things) {
  opened.push(...things);
  return things[0];
}

afterEach(async () => {
  for (const thing of opened.splice(0)) {
    if (thing instanceof ToolSelectorClient) {
      expect(thing.stats().inFlight).toBe(0);
      thing.close();
    } else {
      await thing.close();
    }
  }
  expect(await healthyClient.findTools({ query: 'still there?' })).toBe(OK_LINE);
});

describe('transport faults', () => {
  test('connection refused', async () => {
    const client = track(clientFor(`http://127.0.0.1:${await refusedPort()}`));
    expect(await client.findTools({ query: 'q' })).toBe(UNREACHABLE);
    expect(client.stats()).toMatchObject({ errors: 1, timeouts: 0 });
  });

  test.each([
    ['reset (RST)', (socket) => socket.resetAndDestroy()],
    ['closed (FIN)', (socket) => socket.end()],
  ])('%s right after the request: one request, never retried', async (_what, misbehave) => {
    const upstream = track(await startRawUpstream((socket) => misbehave(socket)));
    const client = track(clientFor(upstream.url));
    expect(await client.findTools({ query: 'q' })).toBe(UNREACHABLE);
    expect(upstream.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/v1/tools/attach']);
  });

  test('an upstream that accepts and never answers times out at TOOLS_API_TIMEOUT', async () => {
    const upstream = track(await startRawUpstream(() => {}));
    const client = track(clientFor(upstream.url, { TOOLS_API_TIMEOUT: '0.5' }));
    const { line, ms } = await timed(client.findTools({ query: 'q' }));
    expect(line).toBe(TIMED_OUT);
    expect(ms).toBeLessThan(500 + HUNG_MS);
    expect(client.stats()).toMatchObject({ timeouts: 1, errors: 1 });
  });

  test.each([
    ['chunked', { 'Transfer-Encoding': 'chunked' }, '1\r\n \r\n'],
    ['with a Content-Length', { 'Content-Length': '1000000' }, ' '],
  ])('headers, then a body that trickles forever (%s), time out', async (_what, headers, drip) => {
    const upstream = track(
      await startRawUpstream((socket) => {
        socket.write(head(200, { 'Content-Type': 'application/json', ...headers }));
        const timer = setInterval(() => socket.write(drip), 20);
        socket.on('close', () => clearInterval(timer));
      }),
    );
    const client = track(clientFor(upstream.url, { TOOLS_API_TIMEOUT: '0.5' }));
    const { line, ms } = await timed(client.findTools({ query: 'q' }));
    expect(line).toBe(TIMED_OUT);
    expect(ms).toBeLessThan(500 + HUNG_MS);
  });

  test.each([
    ['shorter than its Content-Length', head(200, { 'Content-Length': '100' }) + '{"success": true, "mess'],
    ['a chunked body cut mid-chunk', head(200, { 'Transfer-Encoding': 'chunked' }) + '40\r\n{"success": true'],
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['an empty answer', ''],
  ])('a truncated or malformed answer: %s', async (_what, answer) => {
    const upstream = track(await startRawUpstream((socket) => socket.end(answer)));
    const client = track(clientFor(upstream.url));
    expect(await client.findTools({ query: 'q' })).toBe(UNREACHABLE);
    expect(upstream.requests).toHaveLength(1);
  });

  test('https to an upstream that speaks plain HTTP fails the handshake; no credential in the clear', async () => {
    // Records the bytes themselves: no whole HTTP request ever arrives.
    const received = [];
    const sniffer = net.createServer((socket) => {
      socket.on('data', (d) => {
        received.push(d);
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      });
      socket.on('error', () => {});
    });
    await new Promise((resolve) => sniffer.listen(0, '127.0.0.1', resolve));
    track({ close: () => new Promise((resolve) => sniffer.close(resolve)) });
    const client = track(
      new ToolSelectorClient({
        env: {
          TOOLS_API_BASE_URL: `http://127.0.0.1:${sniffer.address().port}`, // promoted to https://
          TOOL_SELECTOR_PASSWORD: 'cleartext-secret',
          FIND_TOOLS_TOOL_ID: 't',
          TOOLS_API_TIMEOUT: '2',
        },
      }),
    );
    expect(await client.findTools({ query: 'q' })).toBe(UNREACHABLE);
    const bytes = Buffer.concat(received);
    expect(bytes[0]).toBe(0x16); // a TLS handshake record, and no request after it
    expect(bytes.toString('latin1')).not.toContain('cleartext-secret');
    expect(bytes.toString('latin1')).not.toContain('POST');
  });

  test('invalid UTF-8 is decoded with U+FFFD, in success and error bodies alike', async () => {
    const bad = Buffer.from([0xff, 0xfe, 0xc3]);
    const bodies = [
      Buffer.concat([Buffer.from('{"success": true, "message": "a'), bad, Buffer.from('z", "details": null}')]),
      Buffer.concat([Buffer.from('{"error": "x'), bad, Buffer.from('"}')]),
      Buffer.concat([bad, Buffer.from('{"success": true}')]),
    ];
    let next = 0;
    const upstream = track(
      await startRawUpstream((socket) => {
        const body = bodies[next];
        next += 1;
        socket.write(head(next === 2 ? 500 : 200, { 'Content-Length': body.length }));
        socket.write(body);
      }),
    );
    const client = track(clientFor(upstream.url));
    expect(await client.findTools({})).toBe('{"status": "success", "message": "a\uFFFD\uFFFD\uFFFDz", "details": null}');
    expect(await client.findTools({})).toBe('{"status": "error", "message": "x\uFFFD\uFFFD\uFFFD"}');
    expect(await client.findTools({})).toBe('{"status": "error", "message": "HTTP 200"}');
  });
});

describe('oversized answers', () => {
  test('a body over maxResponseBytes is cut off with a clear error line', async () => {
    const body = JSON.stringify({ success: true, message: 'x'.repeat(4096) });
    const upstream = track(await startRawUpstream((socket) => socket.write(okResponse(body))));
    const client = track(clientFor(upstream.url, {}, { maxResponseBytes: 1024 }));
    expect(await client.findTools({})).toBe(TOO_LARGE);
    expect(client.stats().errors).toBe(1);
  });

  // 200 MB offered (with a Content-Length, then chunked); the child process's client reads at
  // most FIND_TOOLS_MAX_RESPONSE_BYTES (16 MiB by default) and its peak memory shows it.
  test.each([
    ['with a Content-Length', true],
    ['chunked', false],
  ])('a 200 MB body (%s): capped, memory bounded, a clear error line', async (_what, withLength) => {
    const total = 200 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const upstream = track(
      await startRawUpstream((socket) => {
        socket.write(
          head(200, withLength ? { 'Content-Length': total } : { 'Transfer-Encoding': 'chunked' }),
        );
        const pump = () => {
          while (sent < total && !socket.destroyed) {
            sent += chunk.length;
            if (!withLength) socket.write(`${chunk.length.toString(16)}\r\n`);
            const more = socket.write(withLength ? chunk : Buffer.concat([chunk, Buffer.from('\r\n')]));
            if (!more) return void socket.once('drain', pump);
          }
          if (!socket.destroyed) socket.end(withLength ? '' : '0\r\n\r\n');
        };
        pump();
      }),
    );
    const report = await new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--expose-gc', path.join(__dirname, '..', 'fixtures', 'measure-child.js'), 'big-body'],
        { env: { PATH: process.env.PATH, UPSTREAM_URL: upstream.url, CALL_TIMEOUT_S: '20' } },
      );
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      const hung = setTimeout(() => child.kill('SIGKILL'), 30000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(hung);
        resolve({ code, ...JSON.parse(stdout || '{}') });
      });
    });
    expect(report.code).toBe(0);
    expect(report.line).toBe(TOO_LARGE);
    // The cap is 16 MiB; the whole answer would have been 200 MB.
    expect(report.maxRssMb - report.rssBefore).toBeLessThan(80);
    expect(sent).toBeLessThan(total);
  });
});

describe('redirects are reported, never followed', () => {
  test.each([301, 302, 303, 307, 308])(
    'a %d from the attach endpoint: one POST, nothing sent to the other host',
    async (status) => {
      const elsewhere = track(await startUpstream((req, res) => res.end(OK_BODY)));
      const upstream = track(
        await startRawUpstream((socket) =>
          socket.write(
            head(status, { Location: `${elsewhere.url}/api/v1/tools/attach`, 'Content-Length': 0 }),
          ),
        ),
      );
      const client = track(
        clientFor(upstream.url, {
          TOOL_SELECTOR_PASSWORD: 'redirect-secret',
          TOOL_SELECTOR_BEARER_TOKEN: 'redirect-token',
        }),
      );
      expect(await client.findTools({ query: 'q' })).toBe(`{"status": "error", "message": "HTTP ${status}"}`);
      expect(upstream.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/v1/tools/attach']);
      expect(elsewhere.requests).toHaveLength(0);
    },
  );

  test('a redirect from the Letta API is not followed: the lookup falls back', async () => {
    const elsewhere = track(await startUpstream((req, res) => res.end('[{"name": "find_tools", "id": "tool-evil"}]')));
    const letta = track(
      await startRawUpstream((socket, req) =>
        socket.write(head(302, { Location: `${elsewhere.url}${req.path}`, 'Content-Length': 0 })),
      ),
    );
    const selector = track(await startUpstream((req, res) => res.end(OK_BODY)));
    const client = track(
      clientFor(selector.url, { FIND_TOOLS_TOOL_ID: '', LETTA_API_URL: letta.url, LETTA_PASSWORD: 'letta-secret' }),
    );
    expect(await client.findTools({ agent_id: 'agent-1' })).toBe(OK_LINE);
    expect(elsewhere.requests).toHaveLength(0);
    expect(selector.requests[0].body).toContain(`"keep_tools": ["${FALLBACK_ID}"]`);
  });
});

describe('upstreams that close kept-alive connections right after answering', () => {
  // Answers, then closes the connection without saying so (no "Connection: close").
  const silentCloser = () =>
    startRawUpstream((socket, req) =>
      socket.end(okResponse(req.method === 'GET' ? '[{"name": "find_tools", "id": "tool-ft"}]' : OK_BODY)),
    );

  const bodiesSeen = (upstream) => upstream.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body).query);

  test('a Tool Selector that closes silently: no attach is ever sent twice, and errors stop at the first', async () => {
    const upstream = track(await silentCloser());
    const client = track(clientFor(upstream.url));
    const sequential = [];
    for (let i = 0; i < 150; i += 1) sequential.push(await client.findTools({ query: `s${i}` }));
    const concurrent = await Promise.all(Array.from({ length: 150 }, (_, i) => client.findTools({ query: `c${i}` })));
    // A request written just as the server closes cannot be told apart from one the server took
    // and then died on, so an attach caught in that race is never retried (§4). The client
    // notices such a server (the connection of the call that just finished is already gone, or
    // a reused one is dropped unanswered) and asks it for "Connection: close" from then on.
    // It takes two such connections to learn (one could be a restart), so up to two races are
    // lost; the re-probe of keep-alive waits for a request that goes out alone, which the
    // concurrent burst never leaves room for.
    const failed = [...sequential, ...concurrent].filter((line) => line !== OK_LINE);
    expect(failed.length).toBeLessThanOrEqual(2);
    expect(failed.every((line) => line === UNREACHABLE)).toBe(true);
    expect(concurrent).toEqual(Array(150).fill(OK_LINE));
    const askedToClose = upstream.requests.filter((r) => r.headers.connection === 'close').length;
    expect(askedToClose).toBeGreaterThanOrEqual(200);
    const seen = bodiesSeen(upstream);
    expect(new Set(seen).size).toBe(seen.length);
  });

  // Answers the first `silentAnswers` requests and closes each connection right after, without
  // saying so (as an upstream does when it restarts at that moment), then keeps connections alive.
  const closesSilentlyAtFirst = (silentAnswers) => {
    let answered = 0;
    return startRawUpstream((socket) => {
      answered += 1;
      if (answered <= silentAnswers) socket.end(okResponse());
      else socket.write(okResponse());
    });
  };

  test('one silent close (a coincidence) is not learnt: connections stay kept alive', async () => {
    const upstream = track(await closesSilentlyAtFirst(1));
    const client = track(clientFor(upstream.url));
    for (let i = 0; i < 30; i += 1) expect(await client.findTools({ query: `s${i}` })).toBe(OK_LINE);
    expect(upstream.requests.filter((r) => r.headers.connection === 'close')).toEqual([]);
    expect(upstream.connections()).toBeLessThanOrEqual(3);
  });

  test('an upstream that stops closing silently is asked for keep-alive again', async () => {
    const upstream = track(await closesSilentlyAtFirst(5));
    const client = track(clientFor(upstream.url));
    const lines = [];
    for (let i = 0; i < 400; i += 1) lines.push(await client.findTools({ query: `s${i}` }));
    expect(lines.filter((line) => line !== OK_LINE).length).toBeLessThanOrEqual(1);
    const askedToClose = upstream.requests.filter((r) => r.headers.connection === 'close').length;
    expect(askedToClose).toBeGreaterThan(0);
    // The re-probe comes within a bounded number of requests; from then on one connection serves.
    expect(askedToClose).toBeLessThan(300);
    expect(upstream.requests.slice(-50).filter((r) => r.headers.connection === 'close')).toEqual([]);
    expect(upstream.connections()).toBeLessThan(askedToClose + 10);
  });

  test('both switches are logged on stderr, naming the upstream', async () => {
    const upstream = track(await closesSilentlyAtFirst(5));
    // In a child process, so that its stderr can be read.
    const calls = `
      const { ToolSelectorClient } = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
      const client = new ToolSelectorClient({ env: { TOOLS_API_BASE_URL: process.argv[1], TOOLS_API_ALLOW_INSECURE_HTTP: 'true', FIND_TOOLS_TOOL_ID: 'tool-ft' } });
      (async () => { for (let i = 0; i < 300; i += 1) await client.findTools({ query: 'q' + i }); client.close(); })();
    `;
    const child = spawn(process.execPath, ['-e', calls, upstream.url], { env: { PATH: process.env.PATH } });
    let stderr = '';
    child.stderr.on('data', (data) => (stderr += data));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const authority = new URL(upstream.url).host;
    const learnt = stderr.split('\n').filter((l) => l.includes(`${authority} closed 2 connections right after answering`));
    const unlearnt = stderr.split('\n').filter((l) => l.includes(`${authority}: asking for kept-alive connections again`));
    expect(learnt).toHaveLength(1);
    expect(unlearnt).toHaveLength(1);
    expect(stderr.indexOf(learnt[0])).toBeLessThan(stderr.indexOf(unlearnt[0]));
  });

  test('a Tool Selector that says "Connection: close": no error at all, no socket reused', async () => {
    const upstream = track(
      await startRawUpstream((socket) =>
        socket.end(
          head(200, { 'Content-Type': 'application/json', Connection: 'close', 'Content-Length': OK_BODY.length }) +
            OK_BODY,
        ),
      ),
    );
    const client = track(clientFor(upstream.url));
    for (let i = 0; i < 100; i += 1) expect(await client.findTools({ query: `s${i}` })).toBe(OK_LINE);
    const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => client.findTools({ query: `c${i}` })));
    expect(concurrent).toEqual(Array(100).fill(OK_LINE));
    expect(upstream.connections()).toBe(200);
  });

  test('a Letta API that closes silently: lookups are retried (GET), the real id is always found', async () => {
    const letta = track(await silentCloser());
    const selector = track(await startUpstream((req, res) => res.end(OK_BODY)));
    const client = track(clientFor(selector.url, { FIND_TOOLS_TOOL_ID: '', LETTA_API_URL: letta.url }));
    for (let i = 0; i < 100; i += 1) expect(await client.findTools({ agent_id: `seq-${i}` })).toBe(OK_LINE);
    const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => client.findTools({ agent_id: `con-${i}` })));
    expect(concurrent).toEqual(Array(100).fill(OK_LINE));
    expect(selector.requests.filter((r) => !r.body.includes('"keep_tools": ["tool-ft"]'))).toEqual([]);
  });
});

describe('the Letta API down or slow while the Tool Selector is up', () => {
  test('down: the fallback id at once, and the negative cache spares the next calls', async () => {
    const selector = track(await startUpstream((req, res) => res.end(OK_BODY)));
    const client = track(
      clientFor(selector.url, { FIND_TOOLS_TOOL_ID: '', LETTA_API_URL: `http://127.0.0.1:${await refusedPort()}` }),
    );
    const { line, ms } = await timed(client.findTools({ agent_id: 'agent-1' }));
    expect(line).toBe(OK_LINE);
    expect(ms).toBeLessThan(5000 + HUNG_MS);
    for (let i = 0; i < 10; i += 1) expect(await client.findTools({ agent_id: 'agent-1' })).toBe(OK_LINE);
    expect(client.stats()).toMatchObject({ lookupCacheMisses: 1, lookupCacheHits: 10 });
    expect(selector.requests.every((r) => r.body.includes(`"keep_tools": ["${FALLBACK_ID}"]`))).toBe(true);
  });

  test('slow: the lookup gives up within its budget, the attach still runs, later calls skip Letta', async () => {
    const letta = track(await startRawUpstream(() => {}));
    const selector = track(await startUpstream((req, res) => res.end(OK_BODY)));
    const client = track(
      clientFor(selector.url, { FIND_TOOLS_TOOL_ID: '', LETTA_API_URL: letta.url, TOOLS_API_TIMEOUT: '1' }),
    );
    // Twenty first calls for one agent share one lookup; the lookup gets half of TOOLS_API_TIMEOUT.
    const first = await timed(Promise.all(Array.from({ length: 20 }, () => client.findTools({ agent_id: 'agent-1' }))));
    expect(first.line).toEqual(Array(20).fill(OK_LINE));
    expect(first.ms).toBeLessThan(1000 + HUNG_MS);
    expect(letta.requests).toHaveLength(1);
    const lettaRequests = letta.requests.length;
    for (let i = 0; i < 10; i += 1) expect(await client.findTools({ agent_id: 'agent-1' })).toBe(OK_LINE);
    expect(letta.requests).toHaveLength(lettaRequests);
    expect(client.stats()).toMatchObject({ lookupCacheMisses: 1, lookupShared: 19, lookupCacheHits: 10, timeouts: 0 });
    expect(selector.requests.every((r) => r.body.includes(`"keep_tools": ["${FALLBACK_ID}"]`))).toBe(true);
  });
});

describe('many faults at once', () => {
  test('200 calls across every fault kind settle, each with its line', async () => {
    const never = track(await startRawUpstream(() => {}));
    const reset = track(await startRawUpstream((socket) => socket.resetAndDestroy()));
    const garbage = track(await startRawUpstream((socket) => socket.end('garbage\r\n\r\n')));
    const refused = `http://127.0.0.1:${await refusedPort()}`;
    const cases = [
      [track(clientFor(never.url, { TOOLS_API_TIMEOUT: '0.5' })), TIMED_OUT],
      [track(clientFor(reset.url)), UNREACHABLE],
      [track(clientFor(garbage.url)), UNREACHABLE],
      [track(clientFor(refused)), UNREACHABLE],
      [healthyClient, OK_LINE],
    ];
    const calls = Array.from({ length: 200 }, (_, i) => {
      const [client, want] = cases[i % cases.length];
      return client.findTools({ query: `q${i}` }).then((line) => expect(line).toBe(want));
    });
    await Promise.all(calls);
  });
});
