'use strict';

const http = require('node:http');

const { startSandbox, CATALOGUE, FIND_TOOLS_TOOL, scoreTool, pythonFloatRepr } = require('../../sandbox/server');
const { startUpstream, startGoldenUpstream, loadGoldens, envForCase, withTodaysLookupUrl } = require('../helpers/upstream');

const toolNamed = (name) => CATALOGUE.find((tool) => tool.name === name);

// fetch hands its socket back to the pool a tick after the body ends; without this pause the next
// request would open a second connection and the counts would measure undici, not keep-alive.
const letPoolSettle = () => new Promise((resolve) => setTimeout(resolve, 5));

async function call(url, init = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  await letPoolSettle();
  return { status: response.status, contentType: response.headers.get('content-type'), text };
}

function attachRequest(sandbox, payload, headers = {}) {
  return call(`${sandbox.toolSelectorUrl}/api/v1/tools/attach`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

function attachBody(overrides) {
  return { limit: 10, min_score: 50.0, keep_tools: [FIND_TOOLS_TOOL.id], request_heartbeat: false, ...overrides };
}

// Spies on the timers; returns a check that the timer scheduled for delayMs has been cleared.
function watchTimer(delayMs) {
  const setTimeoutSpy = jest.spyOn(global, 'setTimeout');
  const clearTimeoutSpy = jest.spyOn(global, 'clearTimeout');
  return {
    scheduled: () => setTimeoutSpy.mock.calls.some(([, ms]) => ms === delayMs),
    cleared: () => {
      const index = setTimeoutSpy.mock.calls.findIndex(([, ms]) => ms === delayMs);
      return index >= 0 && clearTimeoutSpy.mock.calls.some(([timer]) => timer === setTimeoutSpy.mock.results[index].value);
    },
  };
}

/**
 * Sends a request server answers after delayMs, then closes server while it waits: close() must
 * neither wait for the answer (the request fails) nor leave the delay's timer behind.
 */
async function expectCloseClearsDelay(server, delayMs, send) {
  const delayTimer = watchTimer(delayMs);
  const failed = expect(send()).rejects.toThrow('fetch failed');
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(delayTimer.scheduled()).toBe(true);

  const closingAt = Date.now();
  await server.close();

  expect(Date.now() - closingAt).toBeLessThan(1000);
  await failed;
  expect(delayTimer.cleared()).toBe(true);
}

// One request on a fresh TCP connection (no pooling), to tell connection counting from reuse.
function getOnFreshConnection(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
      })
      .on('error', reject);
  });
}

afterEach(() => jest.restoreAllMocks());

describe('scoreTool', () => {
  test('a term in the name or tags counts fully, one only in the description counts half', () => {
    expect(scoreTool('search the web', toolNamed('web_search'))).toBe(100);
    expect(scoreTool('search the web', toolNamed('vector_search'))).toBe(50);
    expect(scoreTool('city weather', toolNamed('weather_forecast'))).toBe(75);
    expect(scoreTool('search the web', toolNamed('calculator'))).toBe(0);
  });

  test('rounds to one decimal, folds plurals and ignores stop words', () => {
    expect(scoreTool('web search jira', toolNamed('web_search'))).toBe(66.7);
    expect(scoreTool('emails', toolNamed('send_email'))).toBe(100);
    expect(scoreTool('the of to', toolNamed('web_search'))).toBe(0);
    expect(scoreTool('', toolNamed('web_search'))).toBe(0);
  });
});

describe('pythonFloatRepr', () => {
  test.each([
    [50, '50.0'],
    [87.5, '87.5'],
    [-0, '-0.0'],
    [1500, '1500.0'],
    [0.0001, '0.0001'],
    [1e16, '1e+16'],
    [1e-7, '1e-07'],
    [2.5e-5, '2.5e-05'],
    [1.2345678901234568e20, '1.2345678901234568e+20'],
  ])('%p is written %s', (value, expected) => {
    expect(pythonFloatRepr(value)).toBe(expected);
  });
});

describe('sandbox Tool Selector', () => {
  let sandbox;
  beforeEach(async () => {
    sandbox = await startSandbox();
  });
  afterEach(() => sandbox.close());

  test('answers with the real body shape, best match first, cut to limit', async () => {
    const response = await attachRequest(sandbox, attachBody({ limit: 2, query: 'send an email', agent_id: 'agent-2' }));

    expect(response.status).toBe(200);
    expect(response.contentType).toBe('application/json');
    expect(response.text).toBe(
      '{"success":true,"message":"Successfully processed 3 candidates (3 passed min_score=50.0%), ' +
        'attached 2 tool(s) to agent agent-2","details":{"detached_tools":[],"failed_detachments":[],' +
        '"processed_count":3,"passed_filter_count":3,"success_count":2,"failure_count":0,' +
        '"successful_attachments":[{"success":true,"tool_id":"tool-email-send","name":"send_email","match_score":100.0},' +
        '{"success":true,"tool_id":"tool-email-search","name":"search_email","match_score":50.0}],' +
        '"failed_attachments":[],"preserved_tools":["tool-find-tools"],"target_agent":"agent-2"}}',
    );
  });

  test('min_score filters the candidates and is echoed as a Python float', async () => {
    const response = await attachRequest(sandbox, attachBody({ min_score: 60.5, query: 'send an email', agent_id: 'agent-2' }));
    const body = JSON.parse(response.text);

    expect(body.message).toBe(
      'Successfully processed 3 candidates (1 passed min_score=60.5%), attached 1 tool(s) to agent agent-2',
    );
    expect(body.details.successful_attachments.map((attachment) => attachment.tool_id)).toEqual(['tool-email-send']);
  });

  test('a query that matches nothing attaches nothing', async () => {
    const body = JSON.parse((await attachRequest(sandbox, attachBody({ query: 'zebra xylophone', agent_id: 'agent-2' }))).text);

    expect(body.details).toMatchObject({ processed_count: 0, passed_filter_count: 0, success_count: 0, successful_attachments: [] });
  });

  test('detaches earlier catalogue tools that are neither kept nor re-selected', async () => {
    expect(sandbox.state.agents.get('agent-demo')).toEqual([FIND_TOOLS_TOOL.id, 'tool-weather-forecast']);

    const first = JSON.parse((await attachRequest(sandbox, attachBody({ query: 'send an email', agent_id: 'agent-demo' }))).text);
    expect(first.details.detached_tools).toEqual(['tool-weather-forecast']);
    expect(sandbox.state.agents.get('agent-demo')).toEqual([
      FIND_TOOLS_TOOL.id,
      'tool-email-send',
      'tool-email-search',
      'tool-sms-send',
    ]);

    const keep = [FIND_TOOLS_TOOL.id, 'tool-email-send', 'tool-does-not-exist'];
    const second = JSON.parse(
      (await attachRequest(sandbox, attachBody({ keep_tools: keep, query: 'weather forecast', agent_id: 'agent-demo' }))).text,
    );
    expect(second.details.detached_tools).toEqual(['tool-email-search', 'tool-sms-send']);
    expect(second.details.preserved_tools).toEqual([FIND_TOOLS_TOOL.id, 'tool-email-send']);
    expect(sandbox.state.agents.get('agent-demo')).toEqual([FIND_TOOLS_TOOL.id, 'tool-email-send', 'tool-weather-forecast']);

    const listed = await call(`${sandbox.lettaUrl}/agents/agent-demo/tools?order=asc`);
    expect(JSON.parse(listed.text).map((tool) => tool.name)).toEqual(['find_tools', 'send_email', 'weather_forecast']);
  });

  test.each([
    ['agent_id missing', attachBody({ query: 'web' }), 400, '{"error":"agent_id is required"}'],
    ['agent_id empty', attachBody({ query: 'web', agent_id: '' }), 400, '{"error":"agent_id is required"}'],
    [
      'agent unknown',
      attachBody({ query: 'web', agent_id: 'agent-nobody' }),
      404,
      '{"success":false,"error":"Agent agent-nobody not found","details":{"agent_id":"agent-nobody"}}',
    ],
    ['body not JSON', '{"limit": 5,', 400, '{"error":"Invalid JSON body"}'],
    ['body a JSON list', '[1, 2]', 400, '{"error":"Invalid JSON body"}'],
  ])('%s -> %i', async (_, payload, status, text) => {
    const response = await attachRequest(sandbox, payload);

    expect(response).toMatchObject({ status, text, contentType: 'application/json' });
  });

  test('failed calls leave the agent untouched', async () => {
    await attachRequest(sandbox, '{"agent_id": "agent-demo", ');

    expect(sandbox.state.agents.get('agent-demo')).toEqual([FIND_TOOLS_TOOL.id, 'tool-weather-forecast']);
  });

  test('other paths are 404 and other methods 405, in JSON', async () => {
    expect(await call(`${sandbox.toolSelectorUrl}/api/v1/tools/search`, { method: 'POST' })).toMatchObject({
      status: 404,
      contentType: 'application/json',
    });
    expect(await call(`${sandbox.toolSelectorUrl}/api/v1/tools/attach`)).toMatchObject({ status: 405 });
  });

  test('escapes non-ASCII the way Python json does', async () => {
    sandbox.state.agents.set('agent-café', [FIND_TOOLS_TOOL.id]);

    const response = await attachRequest(sandbox, attachBody({ query: 'web', agent_id: 'agent-café' }));

    expect(response.text).toContain('"target_agent":"agent-caf\\u00e9"');
  });
});

describe('sandbox Letta API', () => {
  let sandbox;
  beforeEach(async () => {
    sandbox = await startSandbox();
  });
  afterEach(() => sandbox.close());

  const summary = (tool) => ({ id: tool.id, name: tool.name, description: tool.description });
  const names = (response) => JSON.parse(response.text).map((tool) => tool.name);

  test("lists an agent's tools as Letta 0.16.8 does: by creation time, newest first, 10 to a page", async () => {
    const response = await call(`${sandbox.lettaUrl}/agents/agent-demo/tools`);

    expect(sandbox.lettaUrl).toMatch(/\/v1$/);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual([summary(toolNamed('weather_forecast')), summary(FIND_TOOLS_TOOL)]);

    // find_tools is the oldest tool: an agent with more than one page of tools has it on none
    // but the last, as on a real Letta.
    sandbox.state.agents.set('agent-many', [FIND_TOOLS_TOOL.id, ...CATALOGUE.slice(0, 11).map((tool) => tool.id)]);
    const firstPage = names(await call(`${sandbox.lettaUrl}/agents/agent-many/tools`));
    expect(firstPage).toEqual(CATALOGUE.slice(1, 11).map((tool) => tool.name).reverse());
    expect(names(await call(`${sandbox.lettaUrl}/agents/agent-many/tools?limit=1000&order=desc`)).at(-1)).toBe('find_tools');
    expect(names(await call(`${sandbox.lettaUrl}/agents/agent-many/tools?order=asc&limit=2`))).toEqual(['find_tools', 'web_search']);
    expect(names(await call(`${sandbox.lettaUrl}/agents/agent-many/tools?limit=0`))).toHaveLength(12);
  });

  test('refuses a limit or an order it cannot read with a 422, as FastAPI does', async () => {
    expect((await call(`${sandbox.lettaUrl}/agents/agent-demo/tools?limit=ten`)).status).toBe(422);
    expect((await call(`${sandbox.lettaUrl}/agents/agent-demo/tools?order=newest`)).status).toBe(422);
    expect((await call(`${sandbox.lettaUrl}/tools/?limit=1.5`)).status).toBe(422);
  });

  test('an unknown agent is 404 {"detail": "Agent not found"}', async () => {
    const response = await call(`${sandbox.lettaUrl}/agents/agent-nobody/tools`);

    expect(response).toMatchObject({ status: 404, text: '{"detail":"Agent not found"}' });
  });

  test('answers /v1/tools with a 307 to /v1/tools/, the query kept, as FastAPI does', async () => {
    const response = await fetch(`${sandbox.lettaUrl}/tools?search=find`, { redirect: 'manual' });
    await response.arrayBuffer();

    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toBe(`${sandbox.lettaUrl}/tools/?search=find`);
  });

  test('lists the whole catalogue plus find_tools on /v1/tools/, 50 to a page, filtered by name or search', async () => {
    const tools = JSON.parse((await call(`${sandbox.lettaUrl}/tools/`)).text);

    expect(CATALOGUE.length).toBeGreaterThanOrEqual(30);
    expect(tools).toHaveLength(CATALOGUE.length + 1);
    expect(tools[0]).toEqual(summary(CATALOGUE.at(-1)));
    expect(tools.at(-1)).toEqual(summary(FIND_TOOLS_TOOL));
    expect(names(await call(`${sandbox.lettaUrl}/tools/?name=find_tools`))).toEqual(['find_tools']);
    // Letta's search is SQL ILIKE '%term%': any case, `_` any one character.
    expect(names(await call(`${sandbox.lettaUrl}/tools/?search=FIND_TOOLS&limit=1000&order=desc`))).toEqual(['find_tools']);
    expect(names(await call(`${sandbox.lettaUrl}/tools/?search=search_&order=asc`))).toEqual([
      'search_email',
      'github_search_code',
      'slack_search_messages',
    ]);
    expect(names(await call(`${sandbox.lettaUrl}/tools/?limit=3&order=asc`))).toEqual(['find_tools', 'web_search', 'fetch_url']);
  });

  test('percent-decodes the agent id segment, and an unencoded "/" does not reach the agent', async () => {
    sandbox.state.agents.set('team/a b', [FIND_TOOLS_TOOL.id]);

    const encoded = await call(`${sandbox.lettaUrl}/agents/${encodeURIComponent('team/a b')}/tools`);
    const raw = await call(`${sandbox.lettaUrl}/agents/team/a%20b/tools`);

    expect(encoded.status).toBe(200);
    expect(JSON.parse(encoded.text)).toEqual([summary(FIND_TOOLS_TOOL)]);
    expect(raw.status).toBe(404);
    expect(sandbox.requests.map((request) => request.path)).toEqual([
      '/v1/agents/team%2Fa%20b/tools',
      '/v1/agents/team/a%20b/tools',
    ]);
  });

  test('other paths and methods are 404', async () => {
    expect((await call(`${sandbox.lettaUrl}/agents`)).status).toBe(404);
    expect((await call(`${sandbox.lettaUrl}/tools`, { method: 'POST' })).status).toBe(404);
  });
});

describe('sandbox passwords', () => {
  let sandbox;
  beforeEach(async () => {
    sandbox = await startSandbox({ password: 'pw1', lettaPassword: 'pw2' });
  });
  afterEach(() => sandbox.close());

  test('the Tool Selector wants X-BARE-PASSWORD: password <pw>', async () => {
    const body = attachBody({ query: 'web', agent_id: 'agent-2' });

    expect(await attachRequest(sandbox, body)).toMatchObject({ status: 401, text: '{"error":"Unauthorized"}' });
    expect((await attachRequest(sandbox, body, { 'x-bare-password': 'pw1' })).status).toBe(401);
    expect((await attachRequest(sandbox, body, { authorization: 'Bearer pw1' })).status).toBe(401);
    expect((await attachRequest(sandbox, body, { 'x-bare-password': 'password pw1' })).status).toBe(200);
  });

  test('the Letta API wants Authorization: Bearer <pw>', async () => {
    const url = `${sandbox.lettaUrl}/agents/agent-2/tools`;

    expect((await call(url)).status).toBe(401);
    expect((await call(url, { headers: { authorization: 'Bearer pw1' } })).status).toBe(401);
    expect((await call(url, { headers: { 'x-bare-password': 'password pw2' } })).status).toBe(401);
    expect((await call(url, { headers: { authorization: 'Bearer pw2' } })).status).toBe(200);
  });

  test('a refused attach changes nothing', async () => {
    await attachRequest(sandbox, attachBody({ query: 'email', agent_id: 'agent-demo' }));

    expect(sandbox.state.agents.get('agent-demo')).toEqual([FIND_TOOLS_TOOL.id, 'tool-weather-forecast']);
  });
});

describe('sandbox connections and recording', () => {
  let sandbox;
  afterEach(() => sandbox?.close());

  test('keeps connections alive and counts them per origin', async () => {
    sandbox = await startSandbox();

    for (let i = 0; i < 3; i += 1) await call(`${sandbox.lettaUrl}/agents/agent-2/tools`);
    for (let i = 0; i < 2; i += 1) await attachRequest(sandbox, attachBody({ query: 'web', agent_id: 'agent-2' }));
    expect(sandbox.connections).toEqual({ tool_selector: 1, letta: 1 });

    await getOnFreshConnection(`${sandbox.lettaUrl}/tools`);
    expect(sandbox.connections).toEqual({ tool_selector: 1, letta: 2 });
  });

  test('records each request in arrival order with lower-cased headers and the body', async () => {
    sandbox = await startSandbox();

    await call(`${sandbox.lettaUrl}/agents/agent-2/tools`, { headers: { Authorization: 'Bearer x' } });
    await attachRequest(sandbox, '{"agent_id": "agent-2"}', { 'X-Bare-Password': 'password y' });

    expect(sandbox.requests).toHaveLength(2);
    expect(sandbox.requests[0]).toMatchObject({ to: 'letta', method: 'GET', path: '/v1/agents/agent-2/tools', body: '' });
    expect(sandbox.requests[0].headers.authorization).toBe('Bearer x');
    expect(sandbox.requests[1]).toMatchObject({
      to: 'tool_selector',
      method: 'POST',
      path: '/api/v1/tools/attach',
      body: '{"agent_id": "agent-2"}',
    });
    expect(sandbox.requests[1].headers['x-bare-password']).toBe('password y');
  });

  test('remembers only the most recent 1,000 requests, so a long-running sandbox does not grow', async () => {
    sandbox = await startSandbox();
    for (let i = 0; i < 1005; i += 1) await call(`${sandbox.lettaUrl}/agents/agent-${i}/tools`);
    expect(sandbox.requests).toHaveLength(1000);
    expect(sandbox.requests[0].path).toBe('/v1/agents/agent-5/tools');
    expect(sandbox.requests.at(-1).path).toBe('/v1/agents/agent-1004/tools');
  });

  test('honours fixed ports', async () => {
    const probe = await startSandbox();
    const [toolSelectorPort, lettaPort] = [probe.toolSelectorUrl, probe.lettaUrl].map((url) => Number(new URL(url).port));
    await probe.close();

    sandbox = await startSandbox({ toolSelectorPort, lettaPort });

    expect(sandbox.toolSelectorUrl).toBe(`http://127.0.0.1:${toolSelectorPort}`);
    expect(sandbox.lettaUrl).toBe(`http://127.0.0.1:${lettaPort}/v1`);
  });

  test('attachDelayMs delays the answer', async () => {
    sandbox = await startSandbox({ attachDelayMs: 150 });
    const startedAt = Date.now();

    await attachRequest(sandbox, attachBody({ query: 'web', agent_id: 'agent-2' }));

    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(140);
  });

  test('close() neither waits for a delayed answer nor leaves its timer behind', async () => {
    sandbox = await startSandbox({ attachDelayMs: 60_000 });
    await expectCloseClearsDelay(sandbox, 60_000, () => attachRequest(sandbox, attachBody({ query: 'web', agent_id: 'agent-2' })));
  });

  test('close() ends kept-alive sockets and stops listening', async () => {
    sandbox = await startSandbox();
    await call(`${sandbox.lettaUrl}/tools`);
    const { lettaUrl } = sandbox;

    await sandbox.close();
    sandbox = undefined;

    await expect(getOnFreshConnection(`${lettaUrl}/tools`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('startUpstream', () => {
  test('records requests, counts connections and turns a throwing handler into a 500', async () => {
    const upstream = await startUpstream((req, res, body) => {
      if (body === 'boom') throw new Error('boom');
      res.end(`echo:${body}`);
    });
    try {
      expect(await call(`${upstream.url}/a?b=1`, { method: 'POST', body: 'hi' })).toMatchObject({ status: 200, text: 'echo:hi' });
      expect((await call(`${upstream.url}/c`, { method: 'POST', body: 'boom' })).status).toBe(500);

      expect(upstream.requests).toEqual([
        expect.objectContaining({ method: 'POST', path: '/a?b=1', body: 'hi' }),
        expect.objectContaining({ method: 'POST', path: '/c', body: 'boom' }),
      ]);
      expect(upstream.connections()).toBe(1);
      expect(upstream.openSockets()).toBe(1);
    } finally {
      await upstream.close();
    }
    expect(upstream.openSockets()).toBe(0);
  });
});

describe('golden upstream', () => {
  const goldens = loadGoldens();
  const caseNamed = (name) => goldens.cases.find((goldenCase) => goldenCase.name === name);
  let upstream;
  beforeAll(async () => {
    upstream = await startGoldenUpstream(goldens);
  });
  afterAll(() => upstream.close());
  beforeEach(() => {
    upstream.reset();
    upstream.setCase(null);
  });

  // Sends a golden's expected requests as the client does today, answering with the fixture.
  async function replay(goldenCase) {
    const responses = [];
    for (const expected of goldenCase.expected_requests.map(withTodaysLookupUrl)) {
      const base = expected.to === 'letta' ? upstream.lettaUrl : upstream.toolSelectorUrl;
      responses.push(await call(new URL(expected.path, base), { method: expected.method, headers: expected.headers, body: expected.body }));
    }
    return responses;
  }

  test('loads the 30 legacy cases', () => {
    expect(goldens.cases).toHaveLength(30);
  });

  test.each(
    loadGoldens()
      .cases.filter((goldenCase) => !goldenCase.attach_response.delay_ms)
      .map((goldenCase) => [goldenCase.name, goldenCase]),
  )('%s: replaying its expected requests records them exactly', async (_, goldenCase) => {
    upstream.setCase(goldenCase);

    const responses = await replay(goldenCase);

    expect(upstream.requests).toEqual(goldenCase.expected_requests.map(withTodaysLookupUrl));
    goldenCase.expected_requests.forEach((expected, index) => {
      if (expected.to !== 'tool_selector') return;
      expect(responses[index]).toEqual({
        status: goldenCase.attach_response.status,
        contentType: goldenCase.attach_response.content_type,
        text: goldenCase.attach_response.body,
      });
    });
  });

  test('the Letta fixture answers lookups as goldens.json describes', async () => {
    const { agents, all_tools: allTools } = goldens.letta_fixture;

    expect(await call(`${upstream.lettaUrl}/agents/agent-exact/tools`)).toMatchObject({
      status: 200,
      text: JSON.stringify(agents['agent-exact'].tools),
    });
    expect(await call(`${upstream.lettaUrl}/agents/agent-500/tools`)).toMatchObject({ status: 500, text: '{"detail":"err"}' });
    expect((await call(`${upstream.lettaUrl}/agents/agent-404/tools`)).status).toBe(404);
    expect((await call(`${upstream.lettaUrl}/agents/constructor/tools`)).status).toBe(404);
    expect((await call(`${upstream.lettaUrl}/agents/agent%2Dexact/tools`)).status).toBe(200);
    expect(await call(`${upstream.lettaUrl}/tools/`)).toMatchObject({ status: 200, text: JSON.stringify(allTools) });
  });

  test('answers the attach of the current case under any prefix, and 500 without a case', async () => {
    const post = (path) => call(`${upstream.toolSelectorUrl}${path}`, { method: 'POST', body: '{}' });

    expect((await post('/api/v1/tools/attach')).status).toBe(500);
    upstream.setCase(caseNamed('resp-html502'));
    expect(await post('/sub/api/v1/tools/attach')).toEqual({
      status: 502,
      contentType: 'text/html',
      text: '<html><body>Bad gateway</body></html>',
    });
    expect((await post('/api/v1/tools/other')).status).toBe(404);
  });

  test('honours delay_ms, and close() clears a pending delay', async () => {
    const ownUpstream = await startGoldenUpstream(goldens);
    try {
      const slowCase = caseNamed('resp-slow');
      ownUpstream.setCase({ ...slowCase, attach_response: { ...slowCase.attach_response, delay_ms: 150 } });
      const url = `${ownUpstream.toolSelectorUrl}/api/v1/tools/attach`;

      const startedAt = Date.now();
      expect((await call(url, { method: 'POST', body: '{}' })).text).toBe(slowCase.attach_response.body);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(140);

      ownUpstream.setCase(slowCase);
      await expectCloseClearsDelay(ownUpstream, slowCase.attach_response.delay_ms, () => call(url, { method: 'POST', body: '{}' }));
    } finally {
      await ownUpstream.close();
    }
  });

  test('reset() empties the record in place', async () => {
    const { requests } = upstream;
    await call(`${upstream.lettaUrl}/tools/`);
    expect(requests).toHaveLength(1);

    upstream.reset();

    expect(upstream.requests).toBe(requests);
    expect(requests).toHaveLength(0);
  });

  test('envForCase substitutes both URLs', () => {
    const urls = { toolSelectorUrl: 'http://127.0.0.1:1111', lettaUrl: 'http://127.0.0.1:2222/v1' };

    expect(envForCase(caseNamed('prefix'), urls)).toEqual({
      TOOLS_API_BASE_URL: 'http://127.0.0.1:1111/sub/',
      TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
      LETTA_API_URL: 'http://127.0.0.1:2222/v1',
      TOOLS_API_TIMEOUT: '1',
    });
    expect(envForCase(caseNamed('refused'), urls).TOOLS_API_BASE_URL).toBe('http://127.0.0.1:1');
  });
});
