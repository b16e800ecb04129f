'use strict';

// The native client against real HTTP servers on 127.0.0.1: arguments, cache, timeouts,
// aborts, connection bounds, proxies, stats and lifecycle.
const http = require('node:http');
const { ToolSelectorClient } = require('../..');
const { startUpstream, sendJsonText } = require('../helpers/upstream');
const { localClient } = require('../helpers/client');

const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: { a: 1 } });
const OK_LINE = '{"status": "success", "message": "ok", "details": {"a": 1}}';
const TIMED_OUT = '{"status": "error", "message": "Tool attach request timed out."}';
const UNREACHABLE = '{"status": "error", "message": "Failed to contact tool selector API."}';

// A Tool Selector and a Letta API in one server, split by path, as the tests need no more.
function selectorAndLetta({ agentTools = [{ name: 'find_tools', id: 'tool-ft' }], attach } = {}) {
  return startUpstream(async (req, res, body) => {
    if (req.url.startsWith('/v1/agents/')) return sendJsonText(res, 200, JSON.stringify(agentTools));
    if (req.url.startsWith('/v1/tools/?')) return sendJsonText(res, 200, '[]');
    if (attach) return attach(req, res, body);
    return sendJsonText(res, 200, OK_BODY);
  });
}

const clientFor = (upstream, env, options) => localClient(upstream.url, env, options);

// The addon's errors come from Node's main realm, not jest's sandbox: match by name, not class.
const typeError = (message) => ({ name: 'TypeError', message: expect.stringMatching(message) });

const lookups = (upstream) => upstream.requests.filter((r) => r.method === 'GET');
const attaches = (upstream) => upstream.requests.filter((r) => r.method === 'POST');

describe('arguments', () => {
  let upstream;
  let client;
  beforeAll(async () => {
    upstream = await selectorAndLetta();
    client = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 'tool-ft' });
  });
  afterAll(async () => {
    client.close();
    await upstream.close();
  });

  test.each([
    ['a number', 5, /args must be an object/],
    ['a string', 'query', /args must be an object/],
    ['an array', [], /args must be an object/],
    ['null', null, /args must be an object/],
  ])('args that is %s rejects with a TypeError', async (_what, args, message) => {
    await expect(client.findTools(args)).rejects.toMatchObject(typeError(message));
  });

  test.each([
    [{ keep_tools: 5 }, /args\.keep_tools must be/],
    [{ keep_tools: ['a', 3] }, /args\.keep_tools\[1\] must be a string/],
    [{ query: 42 }, /args\.query must be a string/],
    [{ agent_id: {} }, /args\.agent_id must be a string/],
    [{ limit: {} }, /args\.limit must be a number/],
    [{ min_score: true }, /args\.min_score must be a number/],
    [{ request_heartbeat: 1 }, /args\.request_heartbeat must be a boolean/],
  ])('%j rejects with a TypeError naming the field', async (args, message) => {
    await expect(client.findTools(args)).rejects.toMatchObject(typeError(message));
  });

  test('a rejected call sends nothing upstream', async () => {
    upstream.requests.length = 0;
    await expect(client.findTools({ keep_tools: 5 })).rejects.toMatchObject(typeError(/keep_tools/));
    expect(upstream.requests).toHaveLength(0);
  });

  test('null and undefined fields count as missing; numeric strings are accepted', async () => {
    upstream.requests.length = 0;
    const line = await client.findTools({
      query: null,
      agent_id: undefined,
      keep_tools: ['b', ' a ,b'],
      limit: '3.7',
      min_score: '12.5',
      request_heartbeat: 'TRUE',
    });
    expect(line).toBe(OK_LINE);
    expect(attaches(upstream)[0].body).toBe(
      '{"limit": 3, "min_score": 12.5, "keep_tools": ["tool-ft", "b", "a"], "request_heartbeat": true}',
    );
  });

  test('objects with __proto__ and constructor keys are read as plain data', async () => {
    upstream.requests.length = 0;
    const args = JSON.parse('{"__proto__": {"query": "polluted"}, "constructor": {"x": 1}, "query": "q"}');
    await client.findTools(args);
    expect(attaches(upstream)[0].body).toContain('"query": "q"');
    expect({}.query).toBeUndefined();
  });
});

describe('find_tools id lookup cache', () => {
  test('a second call for the same agent makes no lookup', async () => {
    const upstream = await selectorAndLetta();
    const client = clientFor(upstream);
    await client.findTools({ query: 'q', agent_id: 'agent-1' });
    await client.findTools({ query: 'q', agent_id: 'agent-1' });
    expect(lookups(upstream).map((r) => r.path)).toEqual(['/v1/agents/agent-1/tools?limit=1000&order=desc']);
    expect(attaches(upstream)).toHaveLength(2);
    expect(client.stats()).toMatchObject({ lookupCacheMisses: 1, lookupCacheHits: 1 });
    client.close();
    await upstream.close();
  });

  test('50 concurrent first calls share one lookup', async () => {
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    const upstream = await startUpstream(async (req, res) => {
      if (req.method === 'GET') {
        await gate;
        return sendJsonText(res, 200, '[{"name": "find_tools", "id": "tool-ft"}]');
      }
      return sendJsonText(res, 200, OK_BODY);
    });
    const client = clientFor(upstream);
    const calls = Array.from({ length: 50 }, () => client.findTools({ agent_id: 'agent-1' }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    expect(await Promise.all(calls)).toEqual(Array(50).fill(OK_LINE));
    expect(lookups(upstream)).toHaveLength(1);
    expect(attaches(upstream).every((r) => r.body.includes('"keep_tools": ["tool-ft"]'))).toBe(true);
    expect(client.stats()).toMatchObject({ lookupCacheMisses: 1, lookupShared: 49 });
    client.close();
    await upstream.close();
  });

  test('a fallback id is cached only for the negative TTL', async () => {
    const upstream = await selectorAndLetta({ agentTools: [] });
    const client = clientFor(upstream, {}, { lookupNegativeCacheTtl: 300 });
    await client.findTools({ agent_id: 'agent-x' });
    await client.findTools({ agent_id: 'agent-x' });
    expect(lookups(upstream)).toHaveLength(2); // agent tools, then all tools; once
    expect(attaches(upstream)[1].body).toContain('"keep_tools": ["tool-e34b5c60-5bd5-4288-a97f-2167ddf3062b"]');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await client.findTools({ agent_id: 'agent-x' });
    expect(lookups(upstream)).toHaveLength(4);
    client.close();
    await upstream.close();
  });

  test('FIND_TOOLS_TOOL_ID skips lookups and FIND_TOOLS_FALLBACK_ID replaces the fallback', async () => {
    const upstream = await selectorAndLetta({ agentTools: [] });
    const fixed = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 'tool-fixed' });
    await fixed.findTools({ agent_id: 'agent-1' });
    expect(lookups(upstream)).toHaveLength(0);
    expect(attaches(upstream)[0].body).toContain('"keep_tools": ["tool-fixed"]');
    const fallback = clientFor(upstream, { FIND_TOOLS_FALLBACK_ID: 'tool-mine' });
    await fallback.findTools({ agent_id: 'agent-1' });
    expect(attaches(upstream)[1].body).toContain('"keep_tools": ["tool-mine"]');
    fixed.close();
    fallback.close();
    await upstream.close();
  });
});

describe('failures resolve to their line (BEHAVIOUR.md §5)', () => {
  test('an upstream that never answers times out at TOOLS_API_TIMEOUT', async () => {
    const upstream = await startUpstream(() => new Promise(() => {}));
    const client = clientFor(upstream, { TOOLS_API_TIMEOUT: '0.3', FIND_TOOLS_TOOL_ID: 't' });
    expect(await client.findTools({ query: 'q' })).toBe(TIMED_OUT);
    expect(client.stats()).toMatchObject({ calls: 1, timeouts: 1, errors: 1, inFlight: 0 });
    client.close();
    await upstream.close();
  });

  test('a refused connection', async () => {
    const server = http.createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    await new Promise((resolve) => server.close(resolve));
    const client = new ToolSelectorClient({
      env: { TOOLS_API_BASE_URL: `http://127.0.0.1:${port}`, TOOLS_API_ALLOW_INSECURE_HTTP: '1', FIND_TOOLS_TOOL_ID: 't' },
    });
    expect(await client.findTools({})).toBe(UNREACHABLE);
    expect(client.stats()).toMatchObject({ errors: 1, timeouts: 0 });
    client.close();
  });

  test('a redirect is reported, never followed', async () => {
    const upstream = await startUpstream((req, res) => {
      res.writeHead(307, { Location: '/elsewhere' });
      res.end();
    });
    const client = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 't' });
    expect(await client.findTools({})).toBe('{"status": "error", "message": "HTTP 307"}');
    expect(upstream.requests.map((r) => r.path)).toEqual(['/api/v1/tools/attach']);
    client.close();
    await upstream.close();
  });

  test('http:// is promoted to https:// unless plain http is allowed', async () => {
    const upstream = await selectorAndLetta();
    const client = new ToolSelectorClient({
      env: { TOOLS_API_BASE_URL: upstream.url, FIND_TOOLS_TOOL_ID: 't', TOOLS_API_TIMEOUT: '2' },
    });
    expect(client.settings().toolSelectorUrl).toBe(upstream.url.replace('http://', 'https://'));
    expect(await client.findTools({})).toBe(UNREACHABLE);
    expect(attaches(upstream)).toHaveLength(0);
    client.close();
    await upstream.close();
  });
});

describe('abort', () => {
  test('an already aborted signal rejects with its reason and sends nothing', async () => {
    const upstream = await selectorAndLetta();
    const client = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 't' });
    const controller = new AbortController();
    controller.abort();
    await expect(client.findTools({}, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(upstream.requests).toHaveLength(0);
    client.close();
    await upstream.close();
  });

  test('aborting during a call rejects and cancels the upstream request', async () => {
    let requestClosed;
    const closed = new Promise((resolve) => (requestClosed = resolve));
    const upstream = await startUpstream((req, res) => {
      res.on('close', requestClosed);
      return new Promise(() => {});
    });
    const client = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 't' });
    const controller = new AbortController();
    const call = client.findTools({}, { signal: controller.signal });
    while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    await closed;
    expect(client.stats().inFlight).toBe(0);
    client.close();
    await upstream.close();
  });

  test('a custom abort reason is the rejection', async () => {
    const upstream = await startUpstream(() => new Promise(() => {}));
    const client = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 't' });
    const controller = new AbortController();
    const call = client.findTools({}, { signal: controller.signal });
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    client.close();
    await upstream.close();
  });

  test('a signal that is not an AbortSignal is a TypeError', async () => {
    const client = new ToolSelectorClient({ env: { FIND_TOOLS_TOOL_ID: 't' } });
    await expect(client.findTools({}, { signal: 'stop' })).rejects.toMatchObject(typeError(/options\.signal/));
    client.close();
  });
});

describe('connection pool', () => {
  test('500 concurrent calls open at most `connections` sockets', async () => {
    const upstream = await selectorAndLetta({
      attach: (req, res) => setTimeout(() => sendJsonText(res, 200, OK_BODY), 5),
    });
    const client = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 't' }, { connections: 8 });
    const lines = await Promise.all(Array.from({ length: 500 }, (_, i) => client.findTools({ query: `q${i}` })));
    expect(lines).toEqual(Array(500).fill(OK_LINE));
    expect(upstream.connections()).toBeLessThanOrEqual(8);
    expect(client.stats().connectionsOpened).toBe(upstream.connections());
    client.close();
    await upstream.close();
  });

  test('once calls are over, no connection is opened while none is in flight', async () => {
    // Lookups and attaches share this origin and its one connection: requests queue in hyper's
    // pool, which races a connect against each queued checkout.
    const upstream = await selectorAndLetta({
      attach: (req, res) => setTimeout(() => sendJsonText(res, 200, OK_BODY), 2),
    });
    const client = clientFor(upstream, { FIND_TOOLS_KEEP_ALIVE_TIMEOUT_MS: '100' }, { connections: 1 });
    try {
      const lines = await Promise.all(Array.from({ length: 20 }, (_, i) => client.findTools({ agent_id: `agent-${i}` })));
      expect(lines).toEqual(Array(20).fill(OK_LINE));
      const openedDuringCalls = upstream.connections();
      expect(client.stats().connectionsOpened).toBe(openedDuringCalls);
      // Idle connections expire after 100 ms; a connect left over from the calls would go out then.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(upstream.connections()).toBe(openedDuringCalls);
      expect(client.stats().connectionsOpened).toBe(openedDuringCalls);
    } finally {
      client.close();
      await upstream.close();
    }
  });

  test('sequential calls reuse one connection', async () => {
    const upstream = await selectorAndLetta();
    const client = clientFor(upstream);
    for (let i = 0; i < 20; i += 1) await client.findTools({ agent_id: 'agent-1' });
    expect(upstream.connections()).toBe(1);
    expect(client.stats()).toMatchObject({ calls: 20, upstreamRequests: 21, connectionsOpened: 1 });
    client.close();
    await upstream.close();
  });
});

describe('proxies', () => {
  test('HTTP_PROXY carries requests to non-loopback hosts, in absolute form', async () => {
    const proxy = await startUpstream((req, res) => sendJsonText(res, 200, OK_BODY));
    const client = new ToolSelectorClient({
      env: {
        TOOLS_API_BASE_URL: 'http://tool-selector.internal:8020',
        TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
        FIND_TOOLS_TOOL_ID: 't',
        HTTP_PROXY: proxy.url,
      },
    });
    expect(await client.findTools({})).toBe(OK_LINE);
    expect(proxy.requests[0].path).toBe('http://tool-selector.internal:8020/api/v1/tools/attach');
    client.close();
    await proxy.close();
  });

  test('loopback is never proxied', async () => {
    const proxy = await startUpstream((req, res) => sendJsonText(res, 502, '{}'));
    const upstream = await selectorAndLetta();
    const client = clientFor(upstream, { FIND_TOOLS_TOOL_ID: 't', HTTP_PROXY: proxy.url, NO_PROXY: '' });
    expect(await client.findTools({})).toBe(OK_LINE);
    expect(proxy.requests).toHaveLength(0);
    client.close();
    await Promise.all([proxy.close(), upstream.close()]);
  });
});

describe('client lifecycle', () => {
  test('a closed client rejects further calls', async () => {
    const client = new ToolSelectorClient({ env: { FIND_TOOLS_TOOL_ID: 't' } });
    client.close();
    await expect(client.findTools({})).rejects.toThrow(/closed/);
  });

  test('options are validated', () => {
    expect(() => new ToolSelectorClient({ timeout: -1 })).toThrow(/timeout/);
    expect(() => new ToolSelectorClient({ connections: 0 })).toThrow(/connections/);
    expect(() => new ToolSelectorClient({ baseUrl: 'ftp://x' })).toThrow(/Tool Selector URL/);
  });
});

describe('the generated types', () => {
  test('name the arguments exactly as the addon reads them (snake_case, as legacy)', () => {
    const types = require('node:fs').readFileSync(require.resolve('../../binding.d.ts'), 'utf8');
    const argsInterface = types.slice(types.indexOf('export interface FindToolsArgs'));
    const fields = [...argsInterface.slice(0, argsInterface.indexOf('\n}')).matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1]);
    expect(fields).toEqual(['query', 'agent_id', 'keep_tools', 'limit', 'min_score', 'request_heartbeat']);
  });
});
