'use strict';

// The worker's API (BEHAVIOUR.md §8): POST /find_tools with the worker's JSON body answers the
// result object the tool returns, under the same agent-id rules and auth, and refuses a body
// that is not a JSON object with a 400.
const { loadGoldens, startGoldenUpstream, envForCase } = require('../helpers/upstream');
const { startHttpServer, attachBodies, rawRequest, metricValue, MISSING_AGENT_ID } = require('../helpers/server');

const goldens = loadGoldens();
const goldenCase = (name) => goldens.cases.find((c) => c.name === name);
const RESP_FULL = goldenCase('resp-full');
const { agent_id: AGENT, ...ARGS_WITHOUT_AGENT } = RESP_FULL.args;

let upstream;
let server;
beforeAll(async () => {
  upstream = await startGoldenUpstream(goldens);
  server = await startHttpServer(envForCase(RESP_FULL, upstream));
});
afterAll(async () => {
  expect(await server.stop()).toEqual({ code: 0, signal: null });
  await upstream.close();
});
beforeEach(() => {
  upstream.reset();
  upstream.setCase(RESP_FULL);
});

const postFindTools = (body, headers = {}) =>
  rawRequest(`${server.url}/find_tools`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });

test('answers the result line byte for byte as JSON, with the worker body sent upstream as legacy did', async () => {
  const response = await postFindTools(JSON.stringify({ ...RESP_FULL.args, request_heartbeat: false }));
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toBe('application/json');
  expect(response.text).toBe(RESP_FULL.expected_result);
  expect(attachBodies(upstream)).toEqual([RESP_FULL.expected_requests.at(-1).body]);
});

test.each(['resp-err400', 'resp-slow', 'resp-unicode'])('%s: the golden line as the answer, still 200', async (name) => {
  upstream.setCase(goldenCase(name));
  const response = await postFindTools(JSON.stringify(goldenCase(name).args));
  expect(response.status).toBe(200);
  expect(response.text).toBe(goldenCase(name).expected_result);
});

test('takes the agent id from x-agent-id, and refuses a mismatch in the result shape', async () => {
  expect((await postFindTools(JSON.stringify(ARGS_WITHOUT_AGENT), { 'x-agent-id': AGENT })).text).toBe(RESP_FULL.expected_result);
  const mismatch = await postFindTools(JSON.stringify(RESP_FULL.args), { 'x-agent-id': 'agent-other' });
  expect(mismatch.status).toBe(200);
  expect(JSON.parse(mismatch.text)).toEqual({
    status: 'error',
    message: `Error in find_tools: Agent ID mismatch: header 'agent-other' != parameter '${AGENT}'`,
  });
  expect(attachBodies(upstream)).toHaveLength(1);
});

test("a custom x-agent-id header beside Letta's own: refused when they name two agents, served when one", async () => {
  const twoAgents = await postFindTools(JSON.stringify(ARGS_WITHOUT_AGENT), { 'x-agent-id': [AGENT, 'agent-2'] });
  expect(twoAgents.status).toBe(200);
  expect(JSON.parse(twoAgents.text)).toEqual({
    status: 'error',
    message:
      `Error in find_tools: Agent ID mismatch: x-agent-id headers '${AGENT}' != 'agent-2'; ` +
      "remove the custom x-agent-id header from this MCP server's registration (Letta sends its own)",
  });
  expect(upstream.requests).toEqual([]);
  const oneAgent = await postFindTools(JSON.stringify(ARGS_WITHOUT_AGENT), { 'x-agent-id': [AGENT, ` ${AGENT}`] });
  expect(oneAgent.text).toBe(RESP_FULL.expected_result);
  expect(attachBodies(upstream)).toHaveLength(1);
});

test('no agent id at all is the legacy error, and nothing is sent upstream', async () => {
  const response = await postFindTools(JSON.stringify({ query: 'q' }));
  expect(JSON.parse(response.text)).toEqual({
    status: 'error',
    message: MISSING_AGENT_ID,
  });
  expect(upstream.requests).toEqual([]);
});

test('odd field types are converted or dropped, never refused', async () => {
  upstream.setCase(goldenCase('lookup-noagent'));
  const response = await postFindTools(JSON.stringify({ query: 42, agent_id: 'agent-exact', keep_tools: 'a, b', limit: '3', min_score: null }));
  expect(response.text).toBe(goldenCase('lookup-noagent').expected_result);
  expect(JSON.parse(attachBodies(upstream)[0])).toMatchObject({ limit: 3, min_score: 50, query: '42', agent_id: 'agent-exact' });
});

test.each([
  ['malformed JSON', '{"query": '],
  ['an empty body', ''],
  ['a JSON array', '[{"query": "q"}]'],
  ['JSON null', 'null'],
  ['a JSON string', '"find me tools"'],
])('%s is a 400 with a JSON error, and the server carries on', async (_, body) => {
  const response = await postFindTools(body);
  expect(response.status).toBe(400);
  expect(response.headers['content-type']).toBe('application/json');
  expect(JSON.parse(response.text)).toEqual({ error: expect.any(String) });
  expect(upstream.requests).toEqual([]);
  expect((await rawRequest(`${server.url}/health`)).status).toBe(200);
});

test('a GET is a 405', async () => {
  const get = await rawRequest(`${server.url}/find_tools`);
  expect(get.status).toBe(405);
  expect(get.headers.allow).toBe('POST');
});

test('its calls count in /metrics like the MCP ones', async () => {
  const before = (await rawRequest(`${server.url}/metrics`)).text;
  await postFindTools(JSON.stringify(RESP_FULL.args));
  await postFindTools(JSON.stringify({ query: 'no agent' }));
  const after = (await rawRequest(`${server.url}/metrics`)).text;
  const delta = (name) => metricValue(after, name) - metricValue(before, name);
  expect(delta('letta_find_tools_calls_total')).toBe(2);
  expect(delta('letta_find_tools_errors_total')).toBe(1);
});
