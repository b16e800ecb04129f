#!/usr/bin/env node
'use strict';

// `npm run demo`: the MCP server as Letta uses it, against the local sandbox upstream. Over stdio
// and then over Streamable HTTP, an SDK client lists the tools and calls find_tools; each result
// is printed with its latency. The server's own log lines (stderr) are shown prefixed `server|`.

const { spawn } = require('node:child_process');
const path = require('node:path');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { startSandbox } = require('../sandbox/server');

const SERVER = path.join(__dirname, '..', 'src', 'index.js');
const AGENT = 'agent-demo';

function forwardLog(stream) {
  let pending = '';
  stream.setEncoding('utf8').on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) process.stdout.write(`    server| ${line}\n`);
  });
}

async function listTools(client) {
  const { tools } = await client.listTools();
  for (const tool of tools) {
    console.log(`  tools/list: ${tool.name} (${Object.keys(tool.inputSchema.properties).join(', ')})`);
  }
}

async function callFindTools(client, label, args) {
  const startedAt = performance.now();
  const result = await client.callTool({ name: 'find_tools', arguments: args });
  const elapsedMs = performance.now() - startedAt;
  console.log(`\n  ${label}: find_tools ${JSON.stringify(args)}  [${elapsedMs.toFixed(1)} ms]`);
  console.log(`    ${result.content[0].text}`);
}

async function stdioPart(upstreamEnv) {
  console.log('\n== stdio: `node src/index.js`, as Letta spawns it ==');
  const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER], env: upstreamEnv, stderr: 'pipe' });
  forwardLog(transport.stderr);
  const client = new Client({ name: 'letta-find-tools-demo', version: '1.0.0' });
  await client.connect(transport);
  try {
    console.log(`  connected to ${client.getServerVersion().name} ${client.getServerVersion().version}`);
    await listTools(client);
    await callFindTools(client, 'success', { query: 'send an email to the team', agent_id: AGENT, limit: 3 });
    await callFindTools(client, 'second call, find_tools id cached', { query: 'weather forecast for Paris', agent_id: AGENT });
    await callFindTools(client, 'missing agent id', { query: 'calendar' });
  } finally {
    await client.close();
  }
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

async function httpPart(upstreamEnv) {
  console.log('\n== Streamable HTTP: `node src/index.js --http`, x-agent-id header ==');
  const server = startHttpServer(upstreamEnv);
  try {
    const baseUrl = `http://127.0.0.1:${await server.port}`;
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), {
      requestInit: { headers: { 'x-agent-id': AGENT } },
    });
    const client = new Client({ name: 'letta-find-tools-demo', version: '1.0.0' });
    await client.connect(transport);
    try {
      console.log(`  connected to ${baseUrl}/mcp, session ${transport.sessionId}`);
      await listTools(client);
      await callFindTools(client, 'success (agent from the header)', { query: 'search github code', limit: 3 });
      await callFindTools(client, 'second call, find_tools id cached', { query: 'translate text' });
      await callFindTools(client, 'header/argument mismatch', { query: 'maps', agent_id: 'agent-2' });
      await transport.terminateSession();
    } finally {
      await client.close();
    }
    const health = await (await fetch(`${baseUrl}/health`)).json();
    console.log(`\n  GET /health: status ${health.status}, backend ${health.backend}, sessions ${health.sessions}`);
    console.log(`    client stats: ${JSON.stringify({ ...health.stats, latencyBuckets: undefined })}`);
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
}

main().catch((error) => {
  console.error(`demo failed: ${error.stack ?? error}`);
  process.exit(1);
});
