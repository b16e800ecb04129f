'use strict';

// The soaks, one module: the measuring loop, the direct soak of each path (run by
// children/soak-child.js in a fresh process) and the soak on the path Letta takes (an MCP SDK
// client calling find_tools through the real server process, over stdio and Streamable HTTP).

const path = require('node:path');

const { pin } = require('./affinity');
const { forkWithRpc } = require('./ipc');
const { cleanEnv } = require('./drivers');
const { median } = require('./numbers');
const { processRssBytes } = require('./proc');
const { startHttpServer } = require('./server-process');
const { CALL_ARGS } = require('./payloads');
const { PATHS } = require('../paths');

const mb = (bytes) => (bytes / 1048576).toFixed(1);
const RSS_SAMPLES = 20;

// ---- The measuring loop: a warm-up, a baseline RSS sample, then the calls in chunks with an
// RSS sample after each, every result compared with the first call's.

// Calls before the baseline sample: pools, caches, JIT and V8's young generation (which grows
// over the first ~20,000 calls here) reach their steady size first.
const WARMUP_FRACTION = 0.1;

async function callMany(call, expected, count, concurrency, tally) {
  let remaining = count;
  const loop = async () => {
    while (remaining > 0) {
      remaining -= 1;
      try {
        if ((await call()) !== expected) tally.mismatches += 1;
      } catch {
        tally.errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

/**
 * `call` resolves to a comparable result (the first one is what every later one must equal);
 * `rssBytes` (sync or async) samples the measured process's RSS after a collection in it.
 */
async function soakLoop({ call, calls, concurrency, samples, rssBytes }) {
  const expected = await call();
  const tally = { mismatches: 0, errors: 0 };
  const warmupCalls = Math.max(1, Math.round(calls * WARMUP_FRACTION));
  const rssBeforeWarmupBytes = await rssBytes();
  await callMany(call, expected, warmupCalls, concurrency, tally);
  const baselineBytes = await rssBytes();
  const chunk = Math.ceil(calls / samples);
  const curve = [];
  const started = process.hrtime.bigint();
  for (let done = 0; done < calls; done += chunk) {
    await callMany(call, expected, Math.min(chunk, calls - done), concurrency, tally);
    curve.push({ calls: Math.min(done + chunk, calls), rssBytes: await rssBytes() });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const endBytes = curve[curve.length - 1].rssBytes;
  return {
    expected,
    calls,
    concurrency,
    warmupCalls,
    rssBeforeWarmupBytes,
    baselineBytes,
    endBytes,
    growthBytes: endBytes - baselineBytes,
    peakBytes: Math.max(...curve.map((point) => point.rssBytes)),
    throughput: calls / seconds,
    curve,
    ...tally,
  };
}

// RSS after a collection still moves by tens of MB between samples (V8 and malloc keep pages they
// may reuse), so one end sample against one baseline sample says where those fell. A leak moves
// the whole curve: the median of the last quarter of samples against that of the first quarter.
function trendBytes(curve) {
  const quarter = Math.max(1, Math.floor(curve.length / 4));
  const rss = curve.map((point) => point.rssBytes);
  return median(rss.slice(-quarter)) - median(rss.slice(0, quarter));
}

// ---- The direct soaks: each path in a fresh child process against a running upstream.

const SOAK_CHILD = path.join(__dirname, '..', 'children', 'soak-child.js');
const DIRECT_CONCURRENCY = 64;

async function runSoaks(upstream, { soakCalls, soakPaths }, cpus, log) {
  const results = [];
  for (const name of soakPaths) {
    log(`soak: ${name}, ${soakCalls} calls at ${DIRECT_CONCURRENCY} in flight`);
    const child = await forkWithRpc(SOAK_CHILD, {
      env: cleanEnv({ extra: { ...PATHS[name].env, BENCH_PATH: name } }),
      execArgv: ['--expose-gc'],
    });
    pin(child.child.pid, cpus);
    const connectionsBefore = await upstream.connectionsAccepted();
    const target = { scheme: 'http', mode: 'lookup', ...upstream.urls('http') };
    const result = await child.call('soak', { target, calls: soakCalls, concurrency: DIRECT_CONCURRENCY, samples: RSS_SAMPLES });
    result.upstreamConnections = (await upstream.connectionsAccepted()) - connectionsBefore;
    result.label = PATHS[name].label;
    await child.stop();
    log(`soak: ${name} RSS ${mb(result.baselineBytes)} → ${mb(result.endBytes)} MB (growth ${mb(result.growthBytes)} MB), ${Math.round(result.throughput)} calls/s`);
    results.push(result);
  }
  return results;
}

// ---- The server soaks. The SDK hands the server's tool handler an AbortSignal on every call;
// this is where a per-call leak shows. The server's RSS is read from the OS, each time after a
// full collection in the server (gc-on-signal.js), as the direct soak samples after one.

const SERVER = path.join(__dirname, '..', '..', 'src', 'index.js');
const SERVER_ARGS = ['--expose-gc', '-r', path.join(__dirname, 'gc-on-signal.js'), SERVER];
const COLLECTED_LINE = '[soak] collected\n';
const SERVER_CONCURRENCY = 32;
// Letta's MCP client speaks the 2025 protocol.
const NEGOTIATION = 'legacy';

function serverEnv(upstream) {
  const { toolSelectorUrl, lettaUrl } = upstream.urls('http');
  return cleanEnv({
    extra: { TOOLS_API_BASE_URL: toolSelectorUrl, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', LETTA_API_URL: lettaUrl },
  });
}

// The SDK client is required here, not at the top: soak-child.js loads this module for the
// loop, and its own RSS is what it measures.
function newClient() {
  const { Client } = require('@modelcontextprotocol/client');
  return new Client({ name: 'letta-find-tools-soak', version: '1.0.0' }, { versionNegotiation: { mode: NEGOTIATION } });
}

async function connectStdio(env) {
  const { StdioClientTransport } = require('@modelcontextprotocol/client/stdio');
  const transport = new StdioClientTransport({ command: process.execPath, args: SERVER_ARGS, env, stderr: 'pipe' });
  const client = newClient();
  await client.connect(transport);
  return { client, pid: transport.pid, stderr: transport.stderr, stop: () => client.close() };
}

async function connectHttp(env) {
  const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');
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
      concurrency: SERVER_CONCURRENCY,
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
    log(`soak: MCP server over ${transport}, ${soakCalls} tools/call at ${SERVER_CONCURRENCY} in flight`);
    const connectionsBefore = await upstream.connectionsAccepted();
    const result = await soakTransport(transport, upstream, soakCalls, cpus);
    result.upstreamConnections = (await upstream.connectionsAccepted()) - connectionsBefore;
    log(`soak: server over ${transport}: RSS growth ${mb(result.growthBytes)} MB, ${Math.round(result.throughput)} calls/s`);
    results.push(result);
  }
  return results;
}

module.exports = { soakLoop, trendBytes, runSoaks, runServerSoaks };
