'use strict';

// The server called the way Letta 0.16 calls it, against the sandbox answering as Letta 0.16.8
// does (tool lists paged 10 at a time, newest first; /v1/tools redirected to /v1/tools/): a new
// process per call over stdio, a new session per call over HTTP with Letta's own X-Agent-Id, each
// the 2025 exchange (initialize, initialized, tools/call, tools/list). The find_tools id sent
// first in keep_tools must be the agent's own find_tools, whatever the number of its tools.
const { startSandbox, CATALOGUE, FIND_TOOLS_TOOL } = require('../../sandbox/server');
const { connectStdio, startHttpServer, connectHttp } = require('../helpers/server');

const FALLBACK_ID = 'tool-e34b5c60-5bd5-4288-a97f-2167ddf3062b';
// More tools than Letta's default page of 10, find_tools the oldest: it is on no first page.
const MANY_TOOLS = [FIND_TOOLS_TOOL.id, ...CATALOGUE.slice(0, 14).map((tool) => tool.id)];

let sandbox;
let env;
beforeAll(async () => {
  sandbox = await startSandbox();
  env = { TOOLS_API_BASE_URL: sandbox.toolSelectorUrl, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', LETTA_API_URL: sandbox.lettaUrl };
});
afterAll(() => sandbox.close());
beforeEach(() => {
  sandbox.requests.length = 0;
  sandbox.state.agents.set('agent-many', [...MANY_TOOLS]);
  // An agent that has not got find_tools itself: the id comes from Letta's list of all tools.
  sandbox.state.agents.set('agent-without', CATALOGUE.slice(0, 3).map((tool) => tool.id));
});

// A query that selects nothing, so the agent's tools stay as they are for the next call.
const ARGS = { query: 'zzzz', min_score: 100 };

function keptFirst() {
  const attaches = sandbox.requests.filter((request) => request.to === 'tool_selector');
  expect(attaches).toHaveLength(1);
  return JSON.parse(attaches[0].body).keep_tools[0];
}

// One tool call as Letta's client makes it over stdio: a fresh server process, then gone.
async function callOverStdio(args) {
  const session = await connectStdio(env);
  try {
    const result = await session.callResult(args);
    await session.client.listTools();
    return result;
  } finally {
    await session.close();
  }
}

test.each([
  ['an agent with more tools than one Letta page', 'agent-many', FIND_TOOLS_TOOL.id],
  ['an agent without find_tools (Letta redirects /v1/tools)', 'agent-without', FIND_TOOLS_TOOL.id],
  ['an agent Letta does not know', 'agent-unknown', FIND_TOOLS_TOOL.id],
])('stdio, a process per call: %s keeps find_tools by its Letta id', async (_name, agentId, expectedId) => {
  const result = await callOverStdio({ ...ARGS, agent_id: agentId });
  expect(result.isError === true).toBe(agentId === 'agent-unknown');
  expect(keptFirst()).toBe(expectedId);
  expect(keptFirst()).not.toBe(FALLBACK_ID);
});

test('stdio: the lookups take one request per list, never a redirect', async () => {
  await callOverStdio({ ...ARGS, agent_id: 'agent-without' });
  const lookups = sandbox.requests.filter((request) => request.to === 'letta');
  expect(lookups.map((request) => request.path.split('?')[0])).toEqual(['/v1/agents/agent-without/tools', '/v1/tools/']);
});

describe('HTTP, a session per call', () => {
  let server;
  beforeAll(async () => {
    server = await startHttpServer(env);
  });
  afterAll(async () => {
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  test("Letta's own X-Agent-Id picks the agent, and its find_tools id is kept", async () => {
    const session = await connectHttp(server.url, { 'X-Agent-Id': 'agent-many' });
    try {
      const result = await session.callResult(ARGS);
      await session.client.listTools();
      expect(result.isError).toBeUndefined();
    } finally {
      await session.close();
    }
    const attach = sandbox.requests.find((request) => request.to === 'tool_selector');
    expect(JSON.parse(attach.body).agent_id).toBe('agent-many');
    expect(keptFirst()).toBe(FIND_TOOLS_TOOL.id);
  });
});

test('every upstream request says who sent it', async () => {
  await callOverStdio({ ...ARGS, agent_id: 'agent-many' });
  const { version } = require('../../package.json');
  expect(sandbox.requests.length).toBeGreaterThan(1);
  for (const request of sandbox.requests) expect(request.headers['user-agent']).toBe(`letta-find-tools/${version}`);
});
