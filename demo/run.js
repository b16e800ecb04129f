#!/usr/bin/env node
'use strict';

// `npm run demo`: the MCP server as Letta uses it, against the local sandbox upstream. Over stdio
// and then over Streamable HTTP (a 2026-07-28 client and a 2025 one), an SDK client lists the
// tools and calls find_tools; each result is printed with its latency, and the worker's
// POST /find_tools is shown too. The server's own log lines (stderr) are shown prefixed
// `server|`. The demo exits non-zero when the native backend is not the one serving, or when a
// call does not end as the demo says it should.

const { spawn } = require('node:child_process');
const path = require('node:path');
const { Client, StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');
const { StdioClientTransport } = require('@modelcontextprotocol/client/stdio');
const { startSandbox } = require('../sandbox/server');

const SERVER = path.join(__dirname, '..', 'src', 'index.js');
const AGENT = 'agent-demo';
const NATIVE_BACKEND_LOG = 'find_tools backend: native client';

// What went other than the demo says it should; any entry makes the exit code 1.
const surprises = [];

function expectThat(what, holds) {
  if (!holds) surprises.push(what);
  return holds;
}

function newClient(versionNegotiation) {
  return new Client({ name: 'letta-find-tools-demo', version: '1.0.0' }, { versionNegotiation });
}

/** Shows a server's stderr line by line; resolves to everything it wrote so far. */
function forwardLog(stream) {
  let pending = '';
  let all = '';
  stream.setEncoding('utf8').on('data', (chunk) => {
    all += chunk;
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) process.stdout.write(`    server| ${line}\n`);
  });
  return () => all;
}

const statusOf = (text) => {
  try {
    return JSON.parse(text).status;
  } catch {
    return undefined;
  }
};

async function listTools(client) {
  const { tools } = await client.listTools();
  for (const tool of tools) {
    console.log(`  tools/list: ${tool.name} (${Object.keys(tool.inputSchema.properties).join(', ')})`);
  }
}

/** Calls find_tools; expected is 'success' or 'error', and both the flag and the text must agree. */
async function callFindTools(client, label, args, expected) {
  const startedAt = performance.now();
  const result = await client.callTool({ name: 'find_tools', arguments: args });
  const elapsedMs = performance.now() - startedAt;
  const text = result.content[0].text;
  const ended = result.isError ? 'error' : 'success';
  console.log(`\n  ${label}: find_tools ${JSON.stringify(args)}  [${elapsedMs.toFixed(1)} ms, ${result.isError ? 'isError' : 'ok'}]`);
  console.log(`    ${text}`);
  const agrees = ended === expected && (statusOf(text) === 'success') === (expected === 'success');
  if (!expectThat(`${label}: expected ${expected}, got ${ended}: ${text}`, agrees)) console.log(`    ^ expected ${expected}`);
}

async function stdioPart(upstreamEnv) {
  console.log('\n== stdio: `node src/index.js`, as Letta spawns it (2025 protocol) ==');
  const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER], env: upstreamEnv, stderr: 'pipe' });
  const serverLog = forwardLog(transport.stderr);
  const client = newClient({ mode: 'legacy' });
  await client.connect(transport);
  try {
    console.log(`  connected to ${client.getServerVersion().name} ${client.getServerVersion().version}, ${client.getProtocolEra()} era`);
    await listTools(client);
    await callFindTools(client, 'success', { query: 'send an email to the team', agent_id: AGENT, limit: 3 }, 'success');
    await callFindTools(client, 'second call, find_tools id cached', { query: 'weather forecast for Paris', agent_id: AGENT }, 'success');
    await callFindTools(client, 'missing agent id', { query: 'calendar' }, 'error');
  } finally {
    await client.close();
  }
  expectThat('stdio: the native backend serves', serverLog().includes(NATIVE_BACKEND_LOG));
}

function startHttpServer(upstreamEnv) {
  const child = spawn(process.execPath, [SERVER, '--http'], {
    env: { ...upstreamEnv, PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const port = new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr);
      if (match) resolve(Number(match[1]));
    });
    exited.then((code) => reject(new Error(`the HTTP server exited (${code}) before listening`)));
  });
  forwardLog(child.stderr);
  return { child, port, exited };
}

async function httpClientPart(baseUrl, label, versionNegotiation, calls) {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), {
    requestInit: { headers: { 'X-Agent-Id': AGENT } },
  });
  const client = newClient(versionNegotiation);
  await client.connect(transport);
  try {
    console.log(`\n  ${label}: connected to ${baseUrl}/mcp, ${client.getProtocolEra()} era, no session`);
    if (calls.length > 2) await listTools(client);
    for (const [callLabel, args, expected] of calls) await callFindTools(client, callLabel, args, expected);
  } finally {
    await client.close();
  }
}

async function workerApiPart(baseUrl) {
  const body = { query: 'summarise a PDF', agent_id: AGENT, limit: 2 };
  const response = await fetch(`${baseUrl}/find_tools`, { method: 'POST', body: JSON.stringify(body) });
  const text = await response.text();
  console.log(`\n  worker API: POST /find_tools ${JSON.stringify(body)} -> ${response.status}`);
  console.log(`    ${text}`);
  expectThat(`POST /find_tools: expected 200 and a success, got ${response.status}: ${text}`, response.status === 200 && statusOf(text) === 'success');
}

async function httpPart(upstreamEnv) {
  console.log('\n== Streamable HTTP: `node src/index.js --http`, X-Agent-Id header as Letta sends it ==');
  const server = startHttpServer(upstreamEnv);
  try {
    const baseUrl = `http://127.0.0.1:${await server.port}`;
    await httpClientPart(baseUrl, '2026-07-28 client', { mode: { pin: '2026-07-28' } }, [
      ['success (agent from the header)', { query: 'search github code', limit: 3 }, 'success'],
      ['second call, find_tools id cached', { query: 'translate text' }, 'success'],
      ['header/argument mismatch', { query: 'maps', agent_id: 'agent-2' }, 'error'],
    ]);
    await httpClientPart(baseUrl, '2025 client (as Letta connects today)', { mode: 'legacy' }, [
      ['success', { query: 'book a meeting room' }, 'success'],
    ]);
    await workerApiPart(baseUrl);
    const health = await (await fetch(`${baseUrl}/health`)).json();
    console.log(`\n  GET /health: status ${health.status}, backend ${health.backend}`);
    console.log(`    client stats: ${JSON.stringify({ ...health.stats, latencyBuckets: undefined })}`);
    expectThat(`HTTP: expected the native backend, healthy; got ${health.backend}, ${health.status}`, health.backend === 'native' && health.status === 'healthy');
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    console.log('  GET /metrics (excerpt):');
    for (const line of metrics.split('\n').filter((l) => /^letta_find_tools_(calls|errors|lookup_cache_\w+|upstream_connections_opened)_total /.test(l))) {
      console.log(`    ${line}`);
    }
  } finally {
    server.child.kill('SIGTERM');
    console.log(`\n  SIGTERM -> the HTTP server exited with ${await server.exited}`);
  }
}

async function main() {
  const sandbox = await startSandbox();
  console.log(`sandbox upstream: Tool Selector ${sandbox.toolSelectorUrl}, Letta API ${sandbox.lettaUrl}`);
  const upstreamEnv = {
    TOOLS_API_BASE_URL: sandbox.toolSelectorUrl,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: sandbox.lettaUrl,
  };
  try {
    await stdioPart(upstreamEnv);
    await httpPart(upstreamEnv);
  } finally {
    await sandbox.close();
  }
  if (surprises.length > 0) {
    console.error(`\ndemo failed: ${surprises.length} thing(s) did not go as shown:\n  ${surprises.join('\n  ')}`);
    process.exit(1);
  }
  console.log('\ndemo: every call ended as expected, on the native backend');
}

main().catch((error) => {
  console.error(`demo failed: ${error.stack ?? error}`);
  process.exit(1);
});
