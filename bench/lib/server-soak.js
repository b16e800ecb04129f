'use strict';

// The soak on the path Letta takes: an MCP SDK client calling find_tools through the real
// server process, over stdio and over Streamable HTTP. The SDK hands the server's tool handler
// an AbortSignal on every call; this is where a per-call leak shows. The server's RSS is read
// from the OS, each time after a full collection in the server (gc-on-signal.js), as the direct
// soak samples after one.

const path = require('node:path');
const { Client, StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');
const { StdioClientTransport } = require('@modelcontextprotocol/client/stdio');

const { cleanEnv } = require('./drivers');
const { pin } = require('./affinity');
const { processRssBytes } = require('./proc');
const { startHttpServer } = require('./server-process');
const { CALL_ARGS } = require('./payloads');
const { soakLoop } = require('./soak-loop');

const SERVER = path.join(__dirname, '..', '..', 'src', 'index.js');
const SERVER_ARGS = ['--expose-gc', '-r', path.join(__dirname, 'gc-on-signal.js'), SERVER];
const COLLECTED_LINE = '[soak] collected\n';
const CONCURRENCY = 32;
const RSS_SAMPLES = 20;
// Letta's MCP client speaks the 2025 protocol.
const NEGOTIATION = 'legacy';

function serverEnv(upstream) {
  const { toolSelectorUrl, lettaUrl } = upstream.urls('http');
  return cleanEnv({
    extra: { TOOLS_API_BASE_URL: toolSelectorUrl, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', LETTA_API_URL: lettaUrl },
  });
}

function newClient() {
  return new Client({ name: 'letta-find-tools-soak', version: '1.0.0' }, { versionNegotiation: { mode: NEGOTIATION } });
}

async function connectStdio(env) {
  const transport = new StdioClientTransport({ command: process.execPath, args: SERVER_ARGS, env, stderr: 'pipe' });
  const client = newClient();
  await client.connect(transport);
  return { client, pid: transport.pid, stderr: transport.stderr, stop: () => client.close() };
}

async function connectHttp(env) {
  const { child, url } = await startHttpServer(SERVER_ARGS, env);
  const client = newClient();
  await client.connect(new StreamableHTTPClientTransport(url));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    client,
    pid: child.pid,
    stderr: child.stderr,
    stop: async () => {
      await client.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The server's RSS right after a full collection in it. */
function rssAfterServerGc({ pid, stderr }) {
  return new Promise((resolve) => {
    let seen = '';
    const onData = (chunk) => {
      seen += chunk;
      if (!seen.includes(COLLECTED_LINE)) return;
      stderr.off('data', onData);
      resolve(processRssBytes(pid));
    };
    stderr.on('data', onData);
    process.kill(pid, 'SIGUSR2');
  });
}

// The result's one text, or null for anything else (an isError result among them), so that
// every call must answer exactly what the first one did.
async function callFindTools(client) {
  const result = await client.callTool({ name: 'find_tools', arguments: CALL_ARGS });
  return !result.isError && result.content.length === 1 ? result.content[0].text : null;
}

async function soakTransport(transport, upstream, calls, cpus) {
  const env = serverEnv(upstream);
  const connection = transport === 'stdio' ? await connectStdio(env) : await connectHttp(env);
  pin(connection.pid, cpus);
  try {
    if ((await callFindTools(connection.client)) === null) {
      throw new Error(`the first call through the ${transport} server did not succeed`);
    }
    const { expected: _expected, ...result } = await soakLoop({
      call: () => callFindTools(connection.client),
      calls,
      concurrency: CONCURRENCY,
      samples: RSS_SAMPLES,
      rssBytes: () => rssAfterServerGc(connection),
    });
    return {
      path: `server-${transport}`,
      label: `MCP server over ${transport} (SDK client, ${NEGOTIATION} negotiation)`,
      ...result,
    };
  } finally {
    await connection.stop();
  }
}

/** One soak per transport, each against a fresh server process. */
async function runServerSoaks(upstream, { soakCalls, serverSoakTransports }, cpus, log) {
  const results = [];
  for (const transport of serverSoakTransports) {
    log(`soak: MCP server over ${transport}, ${soakCalls} tools/call at ${CONCURRENCY} in flight`);
    const connectionsBefore = await upstream.connectionsAccepted();
    const result = await soakTransport(transport, upstream, soakCalls, cpus);
    result.upstreamConnections = (await upstream.connectionsAccepted()) - connectionsBefore;
    log(`soak: server over ${transport}: RSS growth ${(result.growthBytes / 1048576).toFixed(1)} MB, ${Math.round(result.throughput)} calls/s`);
    results.push(result);
  }
  return results;
}

module.exports = { runServerSoaks };
