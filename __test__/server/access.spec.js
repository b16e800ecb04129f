'use strict';

// Who may reach the HTTP server (BEHAVIOUR.md §8): the Host and Origin checks that stop DNS
// rebinding, MCP_ALLOWED_ORIGINS and MCP_ALLOWED_HOSTS, and the optional bearer token.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { loadGoldens, useGoldenUpstream } = require('../helpers/upstream');
const { initializeLine, toolCallLine } = require('../helpers/stdio-pipe');
const { startHttpServer, spawnServer, connectHttp, attachBodies, rawRequest, postMcp, NEGOTIATIONS } = require('../helpers/server');

const goldens = loadGoldens();
const RESP_FULL = goldens.cases.find((c) => c.name === 'resp-full');
const { agent_id: AGENT, ...ARGS_WITHOUT_AGENT } = RESP_FULL.args;
const TOKEN = 'tok-3f9a-access';

const INITIALIZE = initializeLine('2025-06-18', 1);
const CALL = toolCallLine(2, { query: 'exfiltrate', agent_id: 'agent-2' });

const portOf = (url) => new URL(url).port;

const fixture = useGoldenUpstream(goldens, RESP_FULL);

describe('bound to loopback', () => {
  let server;
  beforeAll(async () => {
    server = await startHttpServer({ ...fixture.env, MCP_ALLOWED_ORIGINS: 'http://app.example.com:8080, tools.example.org' });
  });
  afterAll(async () => {
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  test('the DNS-rebinding requests are refused with 403 before any MCP handling, and nothing reaches the upstream', async () => {
    const rebound = { Host: `evil.example.com:${portOf(server.url)}`, Origin: `http://evil.example.com:${portOf(server.url)}` };
    for (const body of [INITIALIZE, CALL]) {
      const response = await postMcp(server.url, body, rebound);
      expect(response.status).toBe(403);
      expect(JSON.parse(response.text)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    }
    expect(fixture.upstream.requests).toEqual([]);
  });

  test('a foreign Host alone is refused, on every path', async () => {
    const host = { Host: `evil.example.com:${portOf(server.url)}` };
    expect((await postMcp(server.url, CALL, host)).status).toBe(403);
    expect((await rawRequest(`${server.url}/find_tools`, { method: 'POST', headers: host, body: '{}' })).status).toBe(403);
    expect((await rawRequest(`${server.url}/metrics`, { headers: host })).status).toBe(403);
    expect(fixture.upstream.requests).toEqual([]);
  });

  test.each(['localhost', '127.0.0.1'])('Host %s is accepted', async (name) => {
    const response = await postMcp(server.url, CALL, { Host: `${name}:${portOf(server.url)}` });
    expect(response.status).toBe(200);
    expect(attachBodies(fixture.upstream)).toHaveLength(1);
  });

  test('an Origin neither loopback nor in MCP_ALLOWED_ORIGINS is refused, even with a loopback Host', async () => {
    for (const origin of ['http://evil.example.com', 'https://app.example.com.evil.example.com', 'null']) {
      const response = await postMcp(server.url, CALL, { Origin: origin });
      expect([origin, response.status]).toEqual([origin, 403]);
    }
    expect(fixture.upstream.requests).toEqual([]);
  });

  test('a loopback Host with a loopback Origin is accepted, as the SDK guards and the conformance suite have it', async () => {
    const port = portOf(server.url);
    const response = await postMcp(server.url, CALL, { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}` });
    expect(response.status).toBe(200);
    expect(attachBodies(fixture.upstream)).toHaveLength(1);
  });

  test('origins listed in MCP_ALLOWED_ORIGINS, as an origin or a host name, are accepted', async () => {
    for (const origin of ['http://app.example.com:8080', 'https://tools.example.org']) {
      const response = await postMcp(server.url, CALL, { Origin: origin });
      expect([origin, response.status]).toEqual([origin, 200]);
    }
    expect(attachBodies(fixture.upstream)).toHaveLength(2);
  });

  test('no Origin header, as server-side clients send, passes', async () => {
    const session = await connectHttp(server.url, { 'x-agent-id': AGENT });
    try {
      expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_FULL.expected_result);
    } finally {
      await session.close();
    }
  });
});

describe('bound beyond loopback', () => {
  test('without MCP_ALLOWED_HOSTS any Host passes (Origin still checked), and the start warns once that there is no token', async () => {
    const server = await startHttpServer({ ...fixture.env, HOST: '0.0.0.0' });
    try {
      const url = `http://127.0.0.1:${portOf(server.url)}`;
      expect((await postMcp(url, CALL, { Host: 'letta-find-tools:3020' })).status).toBe(200);
      expect((await postMcp(url, CALL, { Origin: 'http://evil.example.com' })).status).toBe(403);
      // Beyond loopback, a page on localhost is just another origin.
      expect((await postMcp(url, CALL, { Origin: 'http://localhost:5173' })).status).toBe(403);
      const warnings = server.stderr().split('\n').filter((line) => line.includes('without MCP_AUTH_TOKEN'));
      expect(warnings).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });

  test('MCP_ALLOWED_HOSTS names the Host names accepted, loopback ones besides', async () => {
    const server = await startHttpServer({ ...fixture.env, HOST: '0.0.0.0', MCP_ALLOWED_HOSTS: 'mcp.example.com', MCP_AUTH_TOKEN: TOKEN });
    try {
      const url = `http://127.0.0.1:${portOf(server.url)}`;
      const auth = { Authorization: `Bearer ${TOKEN}` };
      expect((await postMcp(url, CALL, { ...auth, Host: 'mcp.example.com' })).status).toBe(200);
      expect((await postMcp(url, CALL, { ...auth, Host: `localhost:${portOf(url)}` })).status).toBe(200);
      expect((await postMcp(url, CALL, { ...auth, Host: 'other.example.com' })).status).toBe(403);
      expect(server.stderr()).not.toContain('without MCP_AUTH_TOKEN');
    } finally {
      await server.stop();
    }
  });
});

describe('with MCP_AUTH_TOKEN', () => {
  let server;
  beforeAll(async () => {
    server = await startHttpServer({ ...fixture.env, MCP_AUTH_TOKEN: TOKEN });
  });
  afterAll(async () => {
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  test.each([
    ['no Authorization header', {}],
    ['a wrong token', { Authorization: 'Bearer tok-3f9a-never-loggeX' }],
    ['the token as another scheme', { Authorization: `Basic ${TOKEN}` }],
    ['a prefix of the token', { Authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
  ])('%s gets 401 with a Bearer challenge on /mcp and /find_tools, and nothing reaches the upstream', async (_, headers) => {
    for (const response of [
      await postMcp(server.url, CALL, headers),
      await rawRequest(`${server.url}/find_tools`, { method: 'POST', headers, body: JSON.stringify(RESP_FULL.args) }),
    ]) {
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer( |$)/);
      expect(response.text).not.toContain(TOKEN);
    }
    expect(fixture.upstream.requests).toEqual([]);
  });

  test.each(Object.keys(NEGOTIATIONS))('an SDK client negotiating %s with the header is served', async (negotiation) => {
    const session = await connectHttp(server.url, { Authorization: `Bearer ${TOKEN}`, 'x-agent-id': AGENT }, negotiation);
    try {
      expect(await session.call(ARGS_WITHOUT_AGENT)).toBe(RESP_FULL.expected_result);
    } finally {
      await session.close();
    }
  });

  test('an SDK client without it cannot connect', async () => {
    for (const negotiation of ['legacy', 'modern']) {
      await expect(connectHttp(server.url, {}, negotiation)).rejects.toThrow(/invalid_token|HTTP 401/);
    }
  });

  test('/health stays open to monitors without the token; the log says a token is required', async () => {
    const response = await rawRequest(`${server.url}/health`);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text).status).toBe('healthy');
    expect(server.stderr()).toContain('bearer token required');
  });
});

describe('MCP_AUTH_TOKEN_FILE', () => {
  let dir;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'letta-find-tools-token-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('reads the token from the file, without its trailing newline', async () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, `${TOKEN}\n`);
    const server = await startHttpServer({ ...fixture.env, MCP_AUTH_TOKEN_FILE: file });
    try {
      expect((await postMcp(server.url, CALL)).status).toBe(401);
      expect((await postMcp(server.url, CALL, { Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  test('a file that cannot be read stops the start, naming the variable only', async () => {
    const server = spawnServer(['--http'], { ...fixture.env, PORT: '0', HOST: '127.0.0.1', MCP_AUTH_TOKEN_FILE: path.join(dir, 'missing') }, /listening/);
    await expect(server.started).rejects.toThrow(/exited with 1/);
    expect(server.output.stderr).toContain('cannot start: MCP_AUTH_TOKEN_FILE cannot be read (ENOENT)');
  });
});
