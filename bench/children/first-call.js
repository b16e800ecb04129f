'use strict';

// The first call of a fresh process against warm ones, in this fresh process: the native client
// with a lookup cache that forgets at once, so that every call makes the same two requests
// (lookup and attach) and only the first pays for new connections (and TLS handshakes over https).
// With BENCH_FIRST_CALL_TOOL_ID the find_tools id is configured: one request per call, no lookup.
// letta-calls.js runs it once per round and prints the median.

const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { CALL_ARGS } = require('../lib/payloads');

const WARM_CALLS = 5;
const NO_CACHE_TTL_MS = 0.001;

async function main() {
  const { toolSelectorUrl, lettaUrl } = JSON.parse(process.env.BENCH_FIRST_CALL_TARGET);
  const { ToolSelectorClient } = require(path.join(__dirname, '..', '..'));
  const client = new ToolSelectorClient({
    baseUrl: toolSelectorUrl,
    lettaApiUrl: lettaUrl,
    allowInsecureHttp: true,
    lookupCacheTtl: NO_CACHE_TTL_MS,
    toolId: process.env.BENCH_FIRST_CALL_TOOL_ID || undefined,
  });
  const timed = async () => {
    const startedAt = performance.now();
    const line = await client.findTools(CALL_ARGS);
    if (!line.startsWith('{"status": "success"')) throw new Error(`call failed: ${line.slice(0, 200)}`);
    return performance.now() - startedAt;
  };
  const firstMs = await timed();
  const warmMs = [];
  for (let call = 0; call < WARM_CALLS; call += 1) warmMs.push(await timed());
  const { connectionsOpened } = client.stats();
  client.close();
  process.stdout.write(`${JSON.stringify({ firstMs, warmMs, connectionsOpened })}\n`);
}

main().catch((error) => {
  process.stderr.write(`first call failed: ${error.stack}\n`);
  process.exit(1);
});
