'use strict';

// The MCP server (src/index.js) in a child process, reached with the real SDK client.

const { spawn } = require('node:child_process');
const path = require('node:path');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');

const SERVER_PATH = path.join(__dirname, '..', '..', 'src', 'index.js');
const LEGACY_FIXTURE = path.join(__dirname, '..', 'fixtures', 'legacy_find_tools.py');

// Not a timing assertion: a server that never says where it listens is broken, and this says so.
const START_TIMEOUT_MS = 15000;

function textOf(result) {
  expect(result.content).toHaveLength(1);
  expect(result.content[0].type).toBe('text');
  return result.content[0].text;
}

/**
 * Resolves once read() (a server's stderr so far) contains text. stderr and the protocol travel
 * on different pipes, so a log line may arrive just after the answer it was written before.
 */
async function untilLogged(read, text) {
  while (!read().includes(text)) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** An SDK client connected over stdio to a fresh server whose environment is only env (plus PATH). */
async function connectStdio(env) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SERVER_PATH],
    env: { PATH: process.env.PATH, ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const client = new Client({ name: 'server-spec', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    stderr: () => stderr,
    call: async (args) => textOf(await client.callTool({ name: 'find_tools', arguments: args })),
    close: () => client.close(),
  };
}

/** Spawns the server with args and env; resolves once stderr matches `ready` (a RegExp). */
function spawnServer(args, env, ready) {
  const child = spawn(process.execPath, [SERVER_PATH, ...args], { env: { PATH: process.env.PATH, ...env } });
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

/** The server in --http mode on an ephemeral port of 127.0.0.1. */
async function startHttpServer(env) {
  const server = spawnServer(['--http'], { PORT: '0', HOST: '127.0.0.1', ...env }, /listening on http:\/\/[^:]+:(\d+)/);
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
async function connectHttp(url, headers = {}) {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers } });
  const client = new Client({ name: 'server-spec', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    transport,
    call: async (args) => textOf(await client.callTool({ name: 'find_tools', arguments: args })),
    close: () => client.close(),
  };
}

/** The Tool Selector requests of a golden upstream, bodies only. */
function attachBodies(upstream) {
  return upstream.requests.filter((request) => request.to === 'tool_selector').map((request) => request.body);
}

module.exports = {
  LEGACY_FIXTURE,
  connectStdio,
  spawnServer,
  startHttpServer,
  connectHttp,
  attachBodies,
  untilLogged,
};
