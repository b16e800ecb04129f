'use strict';

// The MCP server (src/index.js) in a child process, reached with the real SDK client in the
// protocol era a spec asks for.

const { spawn } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const { Client, StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');
const { StdioClientTransport } = require('@modelcontextprotocol/client/stdio');

const SERVER_PATH = path.join(__dirname, '..', '..', 'src', 'index.js');
const LEGACY_FIXTURE = path.join(__dirname, '..', 'fixtures', 'legacy_find_tools.py');

// Not a timing assertion: a server that never says where it listens is broken, and this says so.
const START_TIMEOUT_MS = 15000;

// BEHAVIOUR.md §6, word for word.
const CONTRACT_TOOL = {
  name: 'find_tools',
  title: 'Find tools',
  description: 'Silently manage tools for the agent by searching and attaching relevant tools',
  inputSchema: {
    type: 'object',
    properties: {
      query: { type: 'string', description: 'Your search query - what kind of tool are you looking for?' },
      agent_id: { type: 'string', description: 'Your agent ID (optional if x-agent-id header is provided)' },
      keep_tools: { type: 'string', description: 'Comma-separated list of tool IDs to preserve' },
      limit: { type: 'number', default: 10, description: 'Maximum number of tools to find (default: 10)' },
      min_score: { type: 'number', default: 50, description: 'Minimum match score 0-100 (default: 50.0)' },
      request_heartbeat: {
        type: 'boolean',
        default: false,
        description: 'Whether to request an immediate heartbeat (default: false)',
      },
    },
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
};

// The client's version negotiation: the 2025 initialize handshake, a server/discover probe
// that falls back to it, and the 2026-07-28 revision or nothing.
const NEGOTIATIONS = {
  legacy: { mode: 'legacy' },
  auto: { mode: 'auto' },
  modern: { mode: { pin: '2026-07-28' } },
};
const ERA_OF = { legacy: 'legacy', auto: 'modern', modern: 'modern' };

function textOf(result) {
  expect(result.content).toHaveLength(1);
  expect(result.content[0].type).toBe('text');
  return result.content[0].text;
}

function newClient(negotiation) {
  return new Client({ name: 'server-spec', version: '1.0.0' }, { versionNegotiation: NEGOTIATIONS[negotiation] });
}

/** What specs use of a connected client: call() resolves to the text, callResult() to the whole result. */
function session(client, extra) {
  const callResult = (args) => client.callTool({ name: 'find_tools', arguments: args });
  return {
    client,
    ...extra,
    callResult,
    call: async (args) => textOf(await callResult(args)),
    close: () => client.close(),
  };
}

/**
 * Resolves once read() (a server's stderr so far) contains text. stderr and the protocol travel
 * on different pipes, so a log line may arrive just after the answer it was written before.
 */
async function untilLogged(read, text) {
  while (!read().includes(text)) await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * An SDK client connected over stdio to a fresh server whose environment is only env (plus
 * PATH), negotiating as NEGOTIATIONS[negotiation] says.
 */
async function connectStdio(env, negotiation = 'legacy') {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SERVER_PATH],
    env: { PATH: process.env.PATH, ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const client = newClient(negotiation);
  await client.connect(transport);
  return session(client, { stderr: () => stderr });
}

/**
 * Spawns the server with args and env, node itself given nodeArgs; resolves once stderr matches
 * `ready` (a RegExp).
 */
function spawnServer(args, env, ready, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, SERVER_PATH, ...args], { env: { PATH: process.env.PATH, ...env } });
  // 'close', unlike 'exit', waits for stdout and stderr to be read to their end.
  const closed = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output.stdout += chunk));
  const started = new Promise((resolve, reject) => {
    const hung = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start; stderr:\n${output.stderr}`));
    }, START_TIMEOUT_MS);
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      output.stderr += chunk;
      const match = ready.exec(output.stderr);
      if (match) {
        clearTimeout(hung);
        resolve(match);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(hung);
      reject(new Error(`server exited with ${code} before starting; stderr:\n${output.stderr}`));
    });
  });
  return { child, output, started, exited: () => closed };
}

/** The server in --http mode on an ephemeral port of 127.0.0.1 (node given nodeArgs). */
async function startHttpServer(env, nodeArgs = []) {
  const server = spawnServer(['--http'], { PORT: '0', HOST: '127.0.0.1', ...env }, /listening on http:\/\/[^:]+:(\d+)/, nodeArgs);
  const [, port] = await server.started;
  const url = `http://127.0.0.1:${port}`;
  return {
    ...server,
    url,
    stderr: () => server.output.stderr,
    async stop() {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
      return server.exited();
    },
  };
}

/** An SDK client connected over Streamable HTTP, sending headers with every request. */
async function connectHttp(url, headers = {}, negotiation = 'legacy') {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers } });
  const client = newClient(negotiation);
  await client.connect(transport);
  return session(client, { transport });
}

// A one-off connection, so that no pooled socket outlives the test or hides a refused connection.
function rawRequest(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// The legacy server's answer to a call with no agent id, word for word.
const MISSING_AGENT_ID = 'Error in find_tools: Agent ID must be provided either in x-agent-id header or agent_id parameter';

// The headers a Streamable HTTP client sends with a POST to /mcp.
const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

/** A raw POST of body to the server's /mcp, with extra headers. */
const postMcp = (url, body, headers = {}) => rawRequest(`${url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body });

/** A metric's value in Prometheus text (NaN when absent). */
function metricValue(text, name) {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

/** The Tool Selector requests of a golden upstream, bodies only. */
function attachBodies(upstream) {
  return upstream.requests.filter((request) => request.to === 'tool_selector').map((request) => request.body);
}

module.exports = {
  MISSING_AGENT_ID,
  MCP_HEADERS,
  postMcp,
  NEGOTIATIONS,
  ERA_OF,
  CONTRACT_TOOL,
  LEGACY_FIXTURE,
  connectStdio,
  spawnServer,
  startHttpServer,
  connectHttp,
  rawRequest,
  metricValue,
  attachBodies,
  untilLogged,
};
