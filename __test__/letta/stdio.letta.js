'use strict';

// Letta 0.16.8 as the MCP client of our server over stdio (Letta runs with
// MCP_DISABLE_STDIO=false and starts the server for every call): registered, listed, attached to
// an agent, and run by Letta for the agent (its run route, no model involved). What Letta hands
// the agent must be byte for byte what findTools() returns for the same call and settings.

const { ToolSelectorClient } = require('../../index.js');
const { startSandbox } = require('../../sandbox/server.js');
const { CONTRACT_TOOL } = require('../helpers/server.js');
const api = require('./letta-api.js');

const QUERY = 'weather forecast for a city';

let sandbox;
let server;
let findTools;
let agent;

beforeAll(async () => {
  sandbox = await startSandbox();
  // Letta gives its child only HOME, LOGNAME, PATH, SHELL, TERM and USER of its own environment:
  // every setting goes in the registration.
  const settings = {
    TOOLS_API_BASE_URL: sandbox.toolSelectorUrl,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: api.LETTA_URL,
  };
  const registration = await api.registerMcpServer('find-tools-stdio', api.stdioConfig(settings));
  server = registration.server;
  findTools = registration.tools.find((tool) => tool.name === 'find_tools');
  agent = await api.createAgent('stdio-agent');
  await api.attachTool(agent.id, findTools.id);
});

afterAll(async () => {
  if (server) await api.deleteMcpServer(server.id);
  await sandbox?.close();
});

/** The line findTools() returns with the registration's settings, from the same sandbox state. */
async function directLine(args, agentTools) {
  sandbox.state.agents.set(agent.id, [...agentTools]);
  const client = new ToolSelectorClient({
    baseUrl: sandbox.toolSelectorUrl,
    allowInsecureHttp: true,
    lettaApiUrl: api.LETTA_URL,
  });
  try {
    return await client.findTools(args);
  } finally {
    client.close();
  }
}

async function runByLetta(args, agentTools) {
  sandbox.state.agents.set(agent.id, [...agentTools]);
  return api.runAgentTool(agent.id, 'find_tools', args);
}

test('Letta lists find_tools from our server as the contract says', () => {
  expect(findTools.description).toBe(CONTRACT_TOOL.description);
  // Letta puts its own request_heartbeat, with its own wording, into every tool it lists.
  const { request_heartbeat: heartbeat, ...properties } = CONTRACT_TOOL.inputSchema.properties;
  expect(findTools.json_schema.parameters.properties).toMatchObject(properties);
  expect(findTools.json_schema.parameters.properties.request_heartbeat.type).toBe(heartbeat.type);
});

test("an agent's call run by Letta returns exactly findTools()'s line", async () => {
  const args = { query: QUERY, agent_id: agent.id, limit: 3 };
  const agentTools = ['tool-fetch-url'];
  const expected = await directLine(args, agentTools);
  expect(JSON.parse(expected).status).toBe('success');
  const result = await runByLetta(args, agentTools);
  expect(result.status).toBe('success');
  expect(result.func_return).toBe(expected);
  // The call reached the Tool Selector for this agent, and the agent got the tool it asked for.
  expect(sandbox.state.agents.get(agent.id)).toContain('tool-weather-forecast');
});

test('an agent the Tool Selector does not know comes back as an error', async () => {
  const args = { query: QUERY, agent_id: 'agent-unknown-to-the-tool-selector' };
  expect(JSON.parse(await directLine(args, [])).status).toBe('error');
  const result = await runByLetta(args, []);
  expect(result.status).toBe('error');
});

test('a refused agent id comes back as an error, and nothing is attached', async () => {
  const attachesBefore = sandbox.requests.filter((request) => request.to === 'tool_selector').length;
  const result = await runByLetta({ query: QUERY, agent_id: 'not an id!' }, []);
  expect(result.status).toBe('error');
  expect(sandbox.requests.filter((request) => request.to === 'tool_selector')).toHaveLength(attachesBefore);
});
