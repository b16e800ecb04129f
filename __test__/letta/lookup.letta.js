'use strict';

// The find_tools id lookup (BEHAVIOUR.md §3) against a real Letta 0.16.8: findTools() called
// directly with Letta as the Letta API and the sandbox as the Tool Selector, reading keep_tools[0]
// from the attach request the sandbox recorded. Direct, because Letta's run route answers 404 for
// an agent without the tool. The first case needs a Letta with no find_tools at all, so this file
// registers our server itself, after it.

const http = require('node:http');

const { ToolSelectorClient } = require('../../index.js');
const { startSandbox } = require('../../sandbox/server.js');
const api = require('./letta-api.js');

const FALLBACK_ID = 'tool-fallback-of-the-letta-spec';
// Letta's default page of an agent's tools: 10, newest (by the tool's creation) first.
const DEFAULT_PAGE = 10;

let sandbox;
let letta;

/**
 * A pass-through to Letta on 127.0.0.1 that records each request's method, path and Letta's
 * status, so a spec can tell which of the lookup's lists found the id.
 */
function startRecordingProxy(target) {
  const upstream = new URL(target);
  const seen = [];
  const server = http.createServer((req, res) => {
    const forwarded = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        seen.push({ method: req.method, path: req.url, status: answer.statusCode });
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}${upstream.pathname}`,
        seen,
        close: () => new Promise((closed) => server.close(closed)),
      }),
    );
  });
}

beforeAll(async () => {
  sandbox = await startSandbox();
  letta = await startRecordingProxy(api.LETTA_URL);
});

afterAll(async () => {
  await sandbox?.close();
  await letta?.close();
});

/** The Letta requests findTools() made since `from`, as `METHOD path status` without the query. */
const lookupsSince = (from) => letta.seen.slice(from).map(({ method, path, status }) => `${method} ${path.split('?')[0]} ${status}`);

/** keep_tools[0] of the attach request one findTools() call for agentId sent. */
async function keptFirst(agentId) {
  sandbox.state.agents.set(agentId, []);
  const client = new ToolSelectorClient({
    baseUrl: sandbox.toolSelectorUrl,
    allowInsecureHttp: true,
    lettaApiUrl: letta.url,
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
    const from = letta.seen.length;
    expect(await keptFirst(agent.id)).toBe(findToolsId);
    // Found on the agent's own list: Letta's list of all tools was never asked.
    expect(lookupsSince(from)).toEqual([`GET /v1/agents/${agent.id}/tools 200`]);
  });

  test("an agent without find_tools gets Letta's registered find_tools id", async () => {
    const agent = await api.createAgent('lookup-without-find-tools');
    expect((await api.agentTools(agent.id)).map((tool) => tool.name)).not.toContain('find_tools');
    const from = letta.seen.length;
    expect(await keptFirst(agent.id)).toBe(findToolsId);
    // From Letta's list of all tools, where Letta serves it: no redirect on the way.
    expect(lookupsSince(from)).toEqual([`GET /v1/agents/${agent.id}/tools 200`, 'GET /v1/tools/ 200']);
  });

  test("an agent Letta does not know gets Letta's registered find_tools id", async () => {
    expect(await keptFirst('agent-00000000-0000-4000-8000-000000000000')).toBe(findToolsId);
  });
});
