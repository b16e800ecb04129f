'use strict';

// The find_tools id lookup (BEHAVIOUR.md §3) against a real Letta 0.16.8: findTools() called
// directly with Letta as the Letta API and the sandbox as the Tool Selector, reading keep_tools[0]
// from the attach request the sandbox recorded. Direct, because Letta's run route answers 404 for
// an agent without the tool. The first case needs a Letta with no find_tools at all, so this file
// registers our server itself, after it.

const { ToolSelectorClient } = require('../../index.js');
const { startSandbox } = require('../../sandbox/server.js');
const api = require('./letta-api.js');

const FALLBACK_ID = 'tool-fallback-of-the-letta-spec';
// Letta's default page of an agent's tools: 10, newest (by the tool's creation) first.
const DEFAULT_PAGE = 10;

let sandbox;

beforeAll(async () => {
  sandbox = await startSandbox();
});

afterAll(() => sandbox?.close());

/** keep_tools[0] of the attach request one findTools() call for agentId sent. */
async function keptFirst(agentId) {
  sandbox.state.agents.set(agentId, []);
  const client = new ToolSelectorClient({
    baseUrl: sandbox.toolSelectorUrl,
    allowInsecureHttp: true,
    lettaApiUrl: api.LETTA_URL,
    fallbackToolId: FALLBACK_ID,
  });
  try {
    const line = JSON.parse(await client.findTools({ agent_id: agentId, query: 'weather forecast' }));
    expect(line.status).toBe('success');
  } finally {
    client.close();
  }
  const attaches = sandbox.requests.filter((request) => request.to === 'tool_selector');
  const body = JSON.parse(attaches.at(-1).body);
  expect(body.agent_id).toBe(agentId);
  return body.keep_tools[0];
}

test('with no find_tools anywhere in Letta, keep_tools[0] is the fallback id', async () => {
  expect(await api.toolsNamed('find_tools')).toEqual([]);
  const agent = await api.createAgent('lookup-nothing-registered');
  expect(await keptFirst(agent.id)).toBe(FALLBACK_ID);
});

describe('with our server registered in Letta', () => {
  let server;
  let findToolsId;

  beforeAll(async () => {
    const registration = await api.registerMcpServer('find-tools-lookup', api.stdioConfig({}));
    server = registration.server;
    findToolsId = registration.tools.find((tool) => tool.name === 'find_tools').id;
  });

  afterAll(() => server && api.deleteMcpServer(server.id));

  test("an agent with more than a page of tools gets its own find_tools id", async () => {
    const agent = await api.createAgent('lookup-many-tools');
    await api.attachTool(agent.id, findToolsId);
    // A page of tools newer than find_tools: Letta's default page, newest first, leaves it out.
    for (let index = 0; index < DEFAULT_PAGE; index += 1) {
      const tool = await api.createPythonTool(`echo_for_lookup_${index}`);
      await api.attachTool(agent.id, tool.id);
    }
    const tools = await api.agentTools(agent.id);
    expect(tools.length).toBeGreaterThan(DEFAULT_PAGE);
    expect(tools.filter((tool) => tool.name === 'find_tools').map((tool) => tool.id)).toEqual([findToolsId]);
    expect(await keptFirst(agent.id)).toBe(findToolsId);
  });

  test("an agent without find_tools gets Letta's registered find_tools id", async () => {
    const agent = await api.createAgent('lookup-without-find-tools');
    expect((await api.agentTools(agent.id)).map((tool) => tool.name)).not.toContain('find_tools');
    expect(await keptFirst(agent.id)).toBe(findToolsId);
  });

  test("an agent Letta does not know gets Letta's registered find_tools id", async () => {
    expect(await keptFirst('agent-00000000-0000-4000-8000-000000000000')).toBe(findToolsId);
  });
});
