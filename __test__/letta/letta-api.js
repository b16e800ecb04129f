'use strict';

// The parts of Letta 0.16.8's REST API the specs use, as a user's scripts would call them. Letta
// is started by scripts/test-letta.js, which sets LETTA_TEST_API_URL (…/v1).

const path = require('node:path');

const LETTA_URL = process.env.LETTA_TEST_API_URL;
const SERVER_PATH = path.join(__dirname, '..', '..', 'src', 'index.js');
// Letta's built-in model handle: creating an agent with it needs no provider key and calls out
// to nothing; no spec asks the agent's model anything.
const MODEL = 'letta/letta-free';
// A bound on a hung Letta, not a timing assertion: a stdio call spawns our server.
const REQUEST_TIMEOUT_MS = 60000;

if (!LETTA_URL) throw new Error('LETTA_TEST_API_URL is not set: run these specs with `npm run test:letta`');

async function letta(method, route, body) {
  const response = await fetch(`${LETTA_URL}${route}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`Letta answered ${method} ${route} with ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** An agent on Letta's base tools (it gets a few by default). */
function createAgent(name) {
  return letta('POST', '/agents/', { name, model: MODEL, embedding: MODEL });
}

async function registerMcpServer(serverName, config) {
  const server = await letta('POST', '/mcp-servers/', { server_name: serverName, config });
  const tools = await letta('GET', `/mcp-servers/${server.id}/tools`);
  return { server, tools };
}

/** Deleting the server deletes its tools too (Letta keeps one tool per name per organisation). */
function deleteMcpServer(serverId) {
  return letta('DELETE', `/mcp-servers/${serverId}`);
}

function attachTool(agentId, toolId) {
  return letta('PATCH', `/agents/${agentId}/tools/attach/${toolId}`);
}

/** Every tool of the agent, in one page large enough for the specs' agents. */
function agentTools(agentId) {
  return letta('GET', `/agents/${agentId}/tools?limit=100`);
}

/** Letta's tools with this name, over the whole organisation. */
function toolsNamed(name) {
  return letta('GET', `/tools/?name=${encodeURIComponent(name)}`);
}

/** A Python tool of Letta's own (Letta reads its schema from the docstring). */
function createPythonTool(name) {
  const source = [
    `def ${name}(text: str) -> str:`,
    '    """',
    `    Echo the text back (${name}).`,
    '',
    '    Args:',
    '        text (str): The text to echo.',
    '',
    '    Returns:',
    '        str: The same text.',
    '    """',
    '    return text',
    '',
  ].join('\n');
  return letta('POST', '/tools/', { source_code: source });
}

/** Letta runs the agent's tool itself, without a model: what the agent's tool call would get. */
function runAgentTool(agentId, toolName, args) {
  return letta('POST', `/agents/${agentId}/tools/${toolName}/run`, { args });
}

/** The registration of our server over stdio: Letta passes its child only `env`, and PATH. */
function stdioConfig(env) {
  return { mcp_server_type: 'stdio', command: 'node', args: [SERVER_PATH], env };
}

module.exports = {
  LETTA_URL,
  createAgent,
  registerMcpServer,
  deleteMcpServer,
  attachTool,
  agentTools,
  toolsNamed,
  createPythonTool,
  runAgentTool,
  stdioConfig,
};
