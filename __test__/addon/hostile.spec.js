'use strict';

// Hostile input at the client: agent ids built to reach other paths or hosts, credentials that
// would split or smuggle headers, huge and strangely typed arguments, prototype tricks, and
// every error path checked for leaked secrets. The recording server sees every request.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { ToolSelectorClient } = require('../..');
const { startUpstream, agentToolsPath, CALL_REQUEST } = require('../helpers/upstream');
const { localClient } = require('../helpers/client');
const { startRawUpstream, head, refusedPort } = require('../fixtures/hostile-upstream');

const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: null });
const OK_LINE = '{"status": "success", "message": "ok", "details": null}';

let upstream; // the Tool Selector and the Letta API in one recording server
let canary; // a host that hostile ids name; it must never be contacted

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(req.method === 'GET' ? '[{"name": "find_tools", "id": "tool-ft"}]' : OK_BODY);
  });
  canary = await startUpstream((req, res) => res.end(OK_BODY));
});

afterAll(async () => {
  await Promise.all([upstream.close(), canary.close()]);
});

beforeEach(() => {
  upstream.requests.length = 0;
});

afterEach(() => {
  expect(canary.requests).toEqual([]);
});

const clientFor = (env, options) => localClient(upstream.url, env, options);

const attachBodies = () => upstream.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body));
// What a JS string becomes as UTF-8 (a lone surrogate turns into U+FFFD, as in Buffer.from).
const asUtf8 = (text) => Buffer.from(text, 'utf8').toString('utf8');

describe('agent ids stay one path segment on the Letta host', () => {
  const canaryHost = () => canary.url.replace('http://', '');
  const hostileIds = () => [
    '../../tools?x=1#',
    '..%2F..%2Ftools',
    '%2F..%2F',
    '%2e%2e',
    '.%2e',
    '..',
    '.',
    '...',
    '/',
    '//',
    'agent/../../admin',
    'agent\\..\\..\\admin',
    'a\r\nHost: evil.example\r\nX-Injected: 1',
    'a\nb',
    'a\0b',
    '%00',
    '%',
    '?',
    '#',
    '&x=1',
    ';x=1',
    ' spaced agent ',
    'x'.repeat(10 * 1024),
    'café 😀 агент 代理',
    '\u2028\u2029\ufeff\u200b',
    'lone \ud800 surrogate',
    `@${canaryHost()}`,
    `//${canaryHost()}/v1/agents/x/tools`,
    `http://${canaryHost()}/`,
    `\\\\${canaryHost()}\\x`,
    '__proto__',
    'constructor',
  ];

  test('each id is percent-encoded into exactly one segment, or has no agent lookup at all', async () => {
    const client = clientFor();
    for (const agentId of hostileIds()) {
      upstream.requests.length = 0;
      expect(await client.findTools({ agent_id: agentId, query: 'q' })).toBe(OK_LINE);
      const paths = upstream.requests.map((r) => `${r.method} ${r.path}`);
      const lookups = paths.filter((p) => p.startsWith('GET /v1/agents/'));
      for (const p of paths) {
        expect(p).toMatch(CALL_REQUEST);
      }
      if (agentId === '.' || agentId === '..') {
        // URL parsers collapse dot-segments in every spelling: there is no such lookup URL.
        expect(lookups).toEqual([]);
      } else {
        expect(lookups).toHaveLength(1);
        const segment = lookups[0].split('/')[3];
        expect(segment).toMatch(/^([A-Za-z0-9\-_.~]|%[0-9A-F]{2})+$/);
        expect(decodeURIComponent(segment)).toBe(asUtf8(agentId));
      }
      const [body] = attachBodies();
      expect(body.agent_id).toBe(asUtf8(agentId));
      expect(body.keep_tools[0]).toBe('tool-ft');
    }
    client.close();
  });

  test('the lookup cache keeps hostile ids apart, __proto__ included', async () => {
    const client = clientFor();
    for (const agentId of ['__proto__', 'constructor', 'hasOwnProperty', '__proto__']) {
      await client.findTools({ agent_id: agentId });
    }
    expect(upstream.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toEqual([
      agentToolsPath('__proto__'),
      agentToolsPath('constructor'),
      agentToolsPath('hasOwnProperty'),
    ]);
    client.close();
  });
});

describe('credentials that could split a header or have no Latin-1 byte are refused at configuration', () => {
  const VARIABLES = ['TOOL_SELECTOR_PASSWORD', 'TOOL_SELECTOR_BEARER_TOKEN', 'LETTA_PASSWORD'];
  const BAD = [
    ['CR LF', '\r\nX-Injected: 1'],
    ['LF', '\nX-Injected: 1'],
    ['CR', '\r'],
    ['NUL', '\0'],
    ['ESC', '\u001b'],
    ['DEL', '\u007f'],
    ['a C1 control (NEL)', '\u0085'],
    ['a zero-width space', '\u200b'],
    ['a line separator', '\u2028'],
    ['a BOM', '\ufeff'],
    ['a letter beyond Latin-1', 'ā'],
  ];

  for (const variable of VARIABLES) {
    test.each(BAD)(`${variable} holding %s`, (_what, bad) => {
      const secret = `sekrit-${variable}`;
      let thrown;
      try {
        new ToolSelectorClient({ env: { [variable]: `${secret}${bad}${secret}` } });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeDefined();
      expect(thrown.message).toMatch(/^letta-find-tools configuration: /);
      expect(thrown.message).toContain(variable);
      expect(thrown.message).not.toContain('sekrit');
    });
  }

  test.each([['password'], ['bearerToken'], ['lettaPassword']])('the %s option is checked the same way', (option) => {
    expect(() => new ToolSelectorClient({ [option]: 'pw\r\nX-Injected: 1' })).toThrow(/cannot be sent in a header/);
  });

  test('spaces, tabs and Latin-1 characters are accepted and sent as given, as legacy sent them', () => {
    for (const value of [' pw', 'tok ', 'a\tb', 'caf\u00e9', '\u00a0nbsp', '\u00ff']) {
      const client = new ToolSelectorClient({ env: { TOOL_SELECTOR_BEARER_TOKEN: value, LETTA_PASSWORD: value } });
      expect(client.settings()).toMatchObject({ hasBearerToken: true, hasLettaPassword: true, hasPassword: true });
      client.close();
    }
  });

  test('the default client refuses them too, and sends nothing', async () => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'fixtures', 'child.js'), 'default-client'], {
      env: {
        PATH: process.env.PATH,
        TOOLS_API_BASE_URL: upstream.url,
        TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
        LETTA_API_URL: upstream.url,
        TOOL_SELECTOR_BEARER_TOKEN: 'sekrit\r\nX-Injected: 1',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(JSON.parse(stdout).error).toMatch(/TOOL_SELECTOR_BEARER_TOKEN contains a control character/);
    expect(stdout + stderr).not.toContain('sekrit');
    expect(upstream.requests).toEqual([]);
  });
});

describe('huge and strangely typed arguments', () => {
  let client;
  beforeAll(() => {
    client = clientFor({ FIND_TOOLS_TOOL_ID: 'tool-ft' });
  });
  afterAll(() => client.close());

  test('keep_tools with 100,000 entries, as a list and as a string, deduplicated', async () => {
    const ids = Array.from({ length: 100000 }, (_, i) => `tool-${i}`);
    expect(await client.findTools({ keep_tools: [...ids, ...ids.slice(0, 1000), 'tool-ft'] })).toBe(OK_LINE);
    expect(await client.findTools({ keep_tools: ` ${ids.join(' , ')} ,,tool-ft, tool-7` })).toBe(OK_LINE);
    for (const body of attachBodies()) {
      expect(body.keep_tools).toHaveLength(100001);
      expect(body.keep_tools[0]).toBe('tool-ft');
      expect(body.keep_tools.slice(1)).toEqual(ids);
    }
  });

  test('a 1 MB query, ASCII and not', async () => {
    const ascii = 'q'.repeat(1024 * 1024);
    const wide = '😀é\u0001"\\'.repeat(200 * 1024);
    expect(await client.findTools({ query: ascii })).toBe(OK_LINE);
    expect(await client.findTools({ query: wide })).toBe(OK_LINE);
    expect(attachBodies().map((b) => b.query)).toEqual([ascii, wide]);
    // The body is ASCII JSON: non-ASCII is escaped as json.dumps does by default.
    expect(/^[\x20-\x7e]*$/.test(upstream.requests.at(-1).body)).toBe(true);
  });

  test('a sparse array of length 2^32-1 is a TypeError at its first hole, not a giant allocation', async () => {
    // A sparse array is the point: Array.from would allocate every element.
    // oxlint-disable-next-line unicorn/no-new-array
    await expect(client.findTools({ keep_tools: new Array(2 ** 32 - 1) })).rejects.toMatchObject({
      name: 'TypeError',
      message: expect.stringContaining('keep_tools[0]'),
    });
    const holey = ['a', 'b'];
    holey[10] = 'c';
    await expect(client.findTools({ keep_tools: holey })).rejects.toMatchObject({
      name: 'TypeError',
      message: expect.stringContaining('keep_tools[2]'),
    });
  });

  // Every JS type for every field: accepted types resolve and are sanitised within the
  // bounds of BEHAVIOUR.md §1; any other type rejects with a TypeError naming the field.
  const VALUES = {
    undefined: undefined,
    null: null,
    true: true,
    false: false,
    zero: 0,
    'negative zero': -0,
    fraction: 1.5,
    NaN: NaN,
    Infinity: Infinity,
    '-Infinity': -Infinity,
    'Number.MAX_VALUE': Number.MAX_VALUE,
    '2^53 + 1': 2 ** 53 + 1,
    '-1e308': -1e308,
    bigint: 10n,
    'empty string': '',
    string: 'abc',
    'numeric string': ' 3.7 ',
    'exponent string': '1e3',
    'hex string': '0x10',
    'NaN string': 'NaN',
    symbol: Symbol('s'),
    function: () => 1,
    class: class Thing {},
    object: { a: 1 },
    'empty array': [],
    'array of strings': ['a', ' b ,c'],
    'array with a number': ['a', 1],
    'array with null': [null],
    'nested array': [['a']],
    date: new Date(0),
    regexp: /re/,
    'boxed string': Object('s'),
    'boxed number': Object(3),
    'boxed boolean': Object(true),
    'null-prototype object': Object.create(null),
    proxy: new Proxy({}, {}),
    map: new Map([['a', 1]]),
    'typed array': new Uint8Array(3),
    promise: Promise.resolve('x'),
    error: new Error('e'),
    'object with toString': { toString: () => 'abc', valueOf: () => 5 },
  };
  const ACCEPTS = {
    query: ['string'],
    agent_id: ['string'],
    keep_tools: ['string', 'string[]'],
    limit: ['number', 'string'],
    min_score: ['number', 'string'],
    request_heartbeat: ['boolean', 'string'],
  };
  const kindOf = (value) => {
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return 'string[]';
    return typeof value;
  };

  test.each(Object.keys(ACCEPTS))('every JS type for %s', async (field) => {
    const wrong = [];
    for (const [what, value] of Object.entries(VALUES)) {
      upstream.requests.length = 0;
      const accepted = value === undefined || value === null || ACCEPTS[field].includes(kindOf(value));
      let outcome;
      try {
        outcome = await client.findTools({ query: 'q', [field]: value });
      } catch (error) {
        outcome = `${error.name}: ${error.message}`;
      }
      if (accepted) {
        const [body] = attachBodies();
        const sane =
          outcome === OK_LINE &&
          Number.isInteger(body.limit) &&
          body.limit >= 1 &&
          body.limit <= 25 &&
          Number.isFinite(body.min_score) &&
          body.min_score >= 0 &&
          body.min_score <= 100 &&
          typeof body.request_heartbeat === 'boolean' &&
          body.keep_tools.every((t) => typeof t === 'string' && t === t.trim() && t !== '');
        if (!sane) wrong.push({ what, outcome, body });
      } else if (!outcome.startsWith(`TypeError: findTools: args.${field}`) || upstream.requests.length) {
        wrong.push({ what, outcome, sent: upstream.requests.length });
      }
    }
    expect(wrong).toEqual([]);
  });

  // The caller's own exception surfaces as the rejection, and nothing is sent.
  test('arguments that throw when read reject with that error and send nothing', async () => {
    const getter = {
      get query() {
        throw new Error('getter boom');
      },
    };
    const trap = new Proxy(
      {},
      {
        get() {
          throw new Error('proxy boom');
        },
      },
    );
    await expect(client.findTools(getter)).rejects.toMatchObject({ message: 'getter boom' });
    await expect(client.findTools(trap)).rejects.toMatchObject({ message: 'proxy boom' });
    await expect(client.findTools({ keep_tools: new Proxy(['a'], {}) })).rejects.toMatchObject({ name: 'TypeError' });
    expect(upstream.requests).toEqual([]);
  });

  test('__proto__ and constructor keys are plain data: nothing polluted, nothing inherited from them', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const args = JSON.parse(
      '{"__proto__": {"query": "from __proto__", "polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}},' +
        ' "keep_tools": ["__proto__", "constructor", "prototype"], "agent_id": "__proto__", "prototype": {"limit": 1}}',
    );
    expect(await client.findTools(args)).toBe(OK_LINE);
    const [body] = attachBodies();
    expect(body.query).toBeUndefined();
    expect(body.limit).toBe(10);
    expect(body.keep_tools).toEqual(['tool-ft', '__proto__', 'constructor', 'prototype']);
    expect(body.agent_id).toBe('__proto__');
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect({}.polluted).toBeUndefined();
    expect(Object.prototype.polluted).toBeUndefined();
    expect(args.polluted).toBeUndefined();
  });
});

describe('secrets never leave through results, errors, stats, settings or stderr', () => {
  const SECRETS = {
    TOOL_SELECTOR_PASSWORD: 'pw-Selector-9f3a1c',
    TOOL_SELECTOR_BEARER_TOKEN: 'tok-Bearer-5be27d',
    LETTA_PASSWORD: 'pw-Letta-0c4e88',
  };

  test('every error path, with every credential set', async () => {
    const servers = {
      RESET_URL: await startRawUpstream((socket) => socket.resetAndDestroy()),
      NEVER_URL: await startRawUpstream(() => {}),
      GARBAGE_URL: await startRawUpstream((socket) => socket.end('garbage\r\n\r\n')),
      // An error answer, a 307 to the canary, a body above the child's 64-byte cap.
      ERROR_URL: await startRawUpstream((socket) =>
        socket.write(head(500, { 'Content-Length': 35 }) + '{"error": "boom", "details": "bad"}'),
      ),
      REDIRECT_URL: await startRawUpstream((socket) =>
        socket.write(head(307, { Location: `${canary.url}/steal`, 'Content-Length': 0 })),
      ),
      BIG_URL: await startRawUpstream((socket) => socket.write(head(200, { 'Content-Length': 4096 }) + ' '.repeat(4096))),
      // The Letta API answers every lookup with an error, so lookups fail and fall back.
      LETTA_URL: await startRawUpstream((socket) => socket.write(head(401, { 'Content-Length': 2 }) + '{}')),
    };
    const env = {
      PATH: process.env.PATH,
      ...SECRETS,
      ...Object.fromEntries(Object.entries(servers).map(([name, server]) => [name, server.url])),
      REFUSED_URL: `http://127.0.0.1:${await refusedPort()}`,
      // The default client reads these from the child's own environment.
      TOOLS_API_BASE_URL: servers.RESET_URL.url,
      TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
      LETTA_API_URL: servers.LETTA_URL.url,
    };
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'fixtures', 'secrets-child.js')], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const hung = setTimeout(() => child.kill('SIGKILL'), 30000);
    const code = await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(hung);
    await Promise.all(Object.values(servers).map((server) => server.close()));

    expect(code).toBe(0);
    const seen = JSON.parse(stdout);
    // Every path ran: results, rejections, stats and settings are all in what was seen.
    expect(seen.length).toBeGreaterThan(40);
    expect(stdout).toContain('Failed to contact tool selector API.');
    expect(stdout).toContain('Tool attach request timed out.');
    expect(stdout).toContain('HTTP 307');
    expect(stdout).toContain('exceeded the size limit');
    expect(stdout).toContain('cannot be sent in a header');
    expect(stdout).toContain('AbortError');
    const recorded = (what) => seen.find((entry) => entry.what === what).value;
    expect(recorded('error500: settings')).toMatchObject({ hasPassword: true, hasBearerToken: true, hasLettaPassword: true });
    for (const variable of Object.keys(SECRETS)) {
      expect(recorded(`${variable} with a line break (rejected)`).message).toContain(variable);
    }
    // The credentials did go where they belong, and nowhere else.
    const attach = servers.ERROR_URL.requests[0];
    expect(attach.headers['x-bare-password']).toBe(`password ${SECRETS.TOOL_SELECTOR_PASSWORD}`);
    expect(attach.headers.authorization).toBe(`Bearer ${SECRETS.TOOL_SELECTOR_BEARER_TOKEN}`);
    expect(servers.LETTA_URL.requests[0].headers.authorization).toBe(`Bearer ${SECRETS.LETTA_PASSWORD}`);
    for (const secret of Object.values(SECRETS)) {
      expect(stdout).not.toContain(secret);
      expect(stderr).not.toContain(secret);
      // Not even in pieces a log line could carry, e.g. base64 of a Basic header.
      expect(stdout + stderr).not.toContain(Buffer.from(`user:${secret}`).toString('base64'));
    }
  });
});
