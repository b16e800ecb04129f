'use strict';

// Letta 0.16.8 as the MCP client of our server over Streamable HTTP. Letta 0.16.7 and later
// refuse MCP URLs on loopback and private addresses; the Letta this runs against
// (scripts/letta/launch_letta.py) lets 127.0.0.1 through, in memory in its own process only, at
// registration and at the check before every call. Registered as the README says: the token as a
// custom `Authorization` header (Letta 0.16.8 drops the saved auth token whenever a custom header
// is set) and no `x-agent-id` of ours, since Letta sends its own `X-Agent-Id` on every request.

const { randomBytes } = require('node:crypto');
const { ToolSelectorClient } = require('../../index.js');
const { startSandbox } = require('../../sandbox/server.js');
const { startHttpServer, attachBodies } = require('../helpers/server.js');
const api = require('./letta-api.js');

const QUERY = 'weather forecast for a city';
const TOKEN = randomBytes(24).toString('hex');

let sandbox;
let ourServer;

beforeAll(async () => {
  sandbox = await startSandbox();
  ourServer = await startHttpServer({
    MCP_AUTH_TOKEN: TOKEN,
    TOOLS_API_BASE_URL: sandbox.toolSelectorUrl,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: api.LETTA_URL,
  });
});

afterAll(async () => {
  await ourServer?.stop();
  await sandbox?.close();
});

function httpConfig(customHeaders) {
  return { mcp_server_type: 'streamable_http', server_url: `${ourServer.url}/mcp`, custom_headers: customHeaders };
}

async function directLine(args, agentId) {
  sandbox.state.agents.set(agentId, []);
  const client = new ToolSelectorClient({ baseUrl: sandbox.toolSelectorUrl, allowInsecureHttp: true, lettaApiUrl: api.LETTA_URL });
  try {
    return await client.findTools(args);
  } finally {
    client.close();
  }
}

function runByLetta(agentId, args) {
  sandbox.state.agents.set(agentId, []);
  return api.runAgentTool(agentId, 'find_tools', args);
}

function lastAttach() {
  return JSON.parse(attachBodies(sandbox).at(-1));
}

describe('registered with the token and no agent header', () => {
  let registration;
  const agents = [];

  beforeAll(async () => {
    registration = await api.registerMcpServer('find-tools-http', httpConfig({ Authorization: `Bearer ${TOKEN}` }));
    const findTools = registration.tools.find((tool) => tool.name === 'find_tools');
    for (const name of ['http-agent-1', 'http-agent-2']) {
      const agent = await api.createAgent(name);
      await api.attachTool(agent.id, findTools.id);
      agents.push(agent);
    }
  });

  afterAll(() => registration && api.deleteMcpServer(registration.server.id));

  test('Letta lists find_tools from our server', () => {
    expect(registration.tools.map((tool) => tool.name)).toEqual(['find_tools']);
  });

  test("Letta's X-Agent-Id picks the agent; the result is findTools()'s line", async () => {
    for (const agent of agents) {
      const expected = await directLine({ query: QUERY, agent_id: agent.id }, agent.id);
      expect(JSON.parse(expected).status).toBe('success');
      const result = await runByLetta(agent.id, { query: QUERY });
      expect(lastAttach().agent_id).toBe(agent.id);
      expect(result.status).toBe('success');
      expect(result.func_return).toBe(expected);
    }
  });

  test('an agent id argument naming another agent is refused, nothing attached', async () => {
    const attachesBefore = attachBodies(sandbox).length;
    const result = await runByLetta(agents[0].id, { query: QUERY, agent_id: agents[1].id });
    expect(result.status).toBe('error');
    expect(attachBodies(sandbox)).toHaveLength(attachesBefore);
  });
});

describe("registered with a custom x-agent-id header as well as Letta's own", () => {
  let registration;
  let agent;

  beforeAll(async () => {
    registration = await api.registerMcpServer(
      'find-tools-http-agent-header',
      httpConfig({ Authorization: `Bearer ${TOKEN}`, 'x-agent-id': 'agent-of-the-registration' }),
    );
    agent = await api.createAgent('http-agent-header');
    await api.attachTool(agent.id, registration.tools.find((tool) => tool.name === 'find_tools').id);
  });

  afterAll(() => registration && api.deleteMcpServer(registration.server.id));

  test('two different agent ids are refused, nothing attached', async () => {
    const attachesBefore = attachBodies(sandbox).length;
    sandbox.state.agents.set('agent-of-the-registration', []);
    const result = await runByLetta(agent.id, { query: QUERY });
    expect(result.status).toBe('error');
    expect(attachBodies(sandbox)).toHaveLength(attachesBefore);
  });
});
