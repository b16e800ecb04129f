'use strict';

// The server's one secrets sweep. With every credential set (the Tool Selector's password and
// bearer token, the Letta password, MCP_AUTH_TOKEN, credentials inside the URLs), none shows
// in a result, in /health, in /metrics or on stderr, in either LOG_FORMAT, over Streamable
// HTTP, POST /find_tools and stdio, whatever fails; a credential the server cannot use stops
// its start naming the variable only. The addon's own sweep is in addon/hostile.spec.js.
const { startScriptedUpstream, SCRIPTED_OK_LINE } = require('../helpers/upstream');
const { startHttpServer, connectHttp, connectStdio, spawnServer, rawRequest, MISSING_AGENT_ID } = require('../helpers/server');

const SECRETS = {
  TOOL_SELECTOR_PASSWORD: 'srv-Pw-7a1e93',
  TOOL_SELECTOR_BEARER_TOKEN: 'srv-Tok-3c9b20',
  LETTA_PASSWORD: 'srv-Letta-5d2f17',
  MCP_AUTH_TOKEN: 'srv-Mcp-94be0d',
};
const AUTHORIZED = { Authorization: `Bearer ${SECRETS.MCP_AUTH_TOKEN}` };
const AGENT = 'agent-secrets';
// Each query meets one way a call can end; the answer each must give, secrets or not.
const ENDINGS = {
  boom: '{"status": "error", "message": "boom", "details": {"trace": "upstream trace"}}',
  reset: '{"status": "error", "message": "Failed to contact tool selector API."}',
  hang: '{"status": "error", "message": "Tool attach request timed out."}',
  fine: SCRIPTED_OK_LINE,
};
const LOG_FORMATS = ['text', 'json'];

let upstream;
let env;

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  env = { ...upstream.serverEnv, ...SECRETS };
});

afterAll(() => upstream.close());

beforeEach(() => {
  upstream.requests.length = 0;
});

function expectNoSecret(shown) {
  for (const secret of Object.values(SECRETS)) {
    expect(shown).not.toContain(secret);
    // Nor in a piece a log line could carry, e.g. the base64 of a Basic header.
    expect(shown).not.toContain(Buffer.from(`user:${secret}`).toString('base64'));
  }
}

/** Every ending, then the agent id refusals and an unknown tool: the texts a client sees. */
async function callEveryWay(session) {
  const seen = [];
  for (const query of Object.keys(ENDINGS)) seen.push(await session.call({ query, agent_id: AGENT }));
  seen.push(await session.call({ query: 'q', agent_id: 'bad id!' }));
  seen.push(await session.call({ query: 'q' }));
  seen.push(JSON.stringify(await session.client.callTool({ name: 'nope', arguments: {} }).catch((error) => error.message)));
  expect(seen.slice(0, 4)).toEqual(Object.values(ENDINGS));
  expect(seen[4]).toBe('Error in find_tools: Invalid agent ID format: bad id!');
  expect(seen[5]).toBe(MISSING_AGENT_ID);
  expect(seen[6]).toContain('nope');
  return seen;
}

// The credentials did travel, each where it belongs, so their absence elsewhere means something.
function expectCredentialsSent() {
  const attach = upstream.requests.find((request) => request.method === 'POST');
  expect(attach.headers.authorization).toBe(`Bearer ${SECRETS.TOOL_SELECTOR_BEARER_TOKEN}`);
  expect(attach.headers['x-bare-password']).toBe(`password ${SECRETS.TOOL_SELECTOR_PASSWORD}`);
  const lookup = upstream.requests.find((request) => request.method === 'GET');
  expect(lookup.headers.authorization).toBe(`Bearer ${SECRETS.LETTA_PASSWORD}`);
}

describe.each(LOG_FORMATS)('LOG_FORMAT=%s', (format) => {
  test('Streamable HTTP and POST /find_tools: no credential in a result, /health, /metrics or the log', async () => {
    const server = await startHttpServer({ ...env, LOG_FORMAT: format });
    let shown;
    try {
      const session = await connectHttp(server.url, AUTHORIZED);
      const seen = await callEveryWay(session).finally(() => session.close());
      const worker = await rawRequest(`${server.url}/find_tools`, {
        method: 'POST',
        headers: { ...AUTHORIZED, 'Content-Type': 'application/json' },
        body: JSON.stringify({ query: 'boom', agent_id: AGENT }),
      });
      expect(worker.text).toBe(ENDINGS.boom);
      const unauthorized = await rawRequest(`${server.url}/find_tools`, { method: 'POST', body: '{}' });
      expect(unauthorized.status).toBe(401);
      const health = await rawRequest(`${server.url}/health`);
      const metrics = await rawRequest(`${server.url}/metrics`);
      expect(JSON.parse(health.text).settings).toMatchObject({ hasPassword: true, hasBearerToken: true, hasLettaPassword: true });
      expect(metrics.status).toBe(200);
      expectCredentialsSent();
      shown = [...seen, worker.text, unauthorized.text, JSON.stringify(unauthorized.headers), health.text, metrics.text];
    } finally {
      expect(await server.stop()).toEqual({ code: 0, signal: null });
    }
    expectNoSecret([...shown, server.stderr()].join('\n'));
  });

  test('stdio: no credential in a result or the log', async () => {
    const session = await connectStdio({ ...env, LOG_FORMAT: format });
    const seen = await callEveryWay(session).finally(() => session.close());
    expectCredentialsSent();
    expectNoSecret([...seen, session.stderr()].join('\n'));
  });

  test('credentials inside the URLs are masked in /health, /metrics and the log', async () => {
    const server = await startHttpServer({
      ...env,
      LOG_FORMAT: format,
      TOOLS_API_BASE_URL: upstream.url.replace('http://', `http://user:${SECRETS.TOOL_SELECTOR_PASSWORD}@`),
      LETTA_API_URL: upstream.url.replace('http://', `http://user:${SECRETS.LETTA_PASSWORD}@`),
    });
    let shown;
    try {
      const session = await connectHttp(server.url, { ...AUTHORIZED, 'x-agent-id': 'agent-url' });
      expect(await session.call({ query: 'fine' }).finally(() => session.close())).toBe(SCRIPTED_OK_LINE);
      const health = await rawRequest(`${server.url}/health`);
      expect(JSON.parse(health.text).settings.toolSelectorUrl).toMatch(/^http:\/\/\*\*\*@127\.0\.0\.1:\d+$/);
      shown = [health.text, (await rawRequest(`${server.url}/metrics`)).text];
    } finally {
      expect(await server.stop()).toEqual({ code: 0, signal: null });
    }
    expectNoSecret([...shown, server.stderr()].join('\n'));
  });
});

test.each([
  ['TOOL_SELECTOR_PASSWORD', `${SECRETS.TOOL_SELECTOR_PASSWORD}\r\nX: 1`, 'TOOL_SELECTOR_PASSWORD contains a control character'],
  ['MCP_AUTH_TOKEN', 'two words', 'cannot start: MCP_AUTH_TOKEN: the token must be printable ASCII without spaces'],
])('%s that cannot be sent stops the start, naming the variable only', async (variable, value, message) => {
  const server = spawnServer(['--http'], { ...env, PORT: '0', HOST: '127.0.0.1', [variable]: value }, /listening/);
  await expect(server.started).rejects.toThrow(/exited with 1/);
  expect(server.output.stderr).toContain(message);
  expect(server.output.stderr).not.toContain(value.split(/\s/)[0]);
});
