'use strict';

// `npm run bench:soak`: only the soaks, with their own upstream: the direct ones (BENCH_SOAK_PATHS,
// default native; e.g. native,undici-cached), then the MCP server driven by the SDK client
// (BENCH_SOAK_SERVER, default stdio,http). BENCH_SOAK_CALLS (default 200000) sets the length.
// `npm run bench` runs the direct soak at its end.

const { cpuPlan } = require('./lib/affinity');
const { readSettings } = require('./lib/settings');
const { runSoaks, runServerSoaks, trendBytes } = require('./lib/soak');
const { startUpstream } = require('./lib/upstream-process');

const log = (message) => process.stderr.write(`[bench:soak] ${message}\n`);
const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;

async function main() {
  const settings = readSettings();
  const cpus = cpuPlan(settings.pin);
  const upstream = await startUpstream({ cpus: cpus && cpus.upstream });
  try {
    const soaks = [
      ...(await runSoaks(upstream, settings, cpus && cpus.clients, log)),
      ...(await runServerSoaks(upstream, settings, cpus && cpus.clients, log)),
    ];
    for (const soak of soaks) {
      process.stdout.write(
        `${soak.label}: ${soak.calls.toLocaleString('en-US')} calls at ${soak.concurrency} in flight, ` +
          `RSS ${mb(soak.baselineBytes)} after warm-up → ${mb(soak.endBytes)} (growth ${mb(soak.growthBytes)}, trend ${mb(trendBytes(soak.curve))}, peak ${mb(soak.peakBytes)}), ` +
          `${Math.round(soak.throughput).toLocaleString('en-US')} calls/s, ${soak.upstreamConnections} upstream connections, ` +
          `${soak.mismatches + soak.errors} bad results\n` +
          `  RSS by calls done: ${soak.curve.map((point) => `${point.calls / 1000}k ${mb(point.rssBytes)}`).join(', ')}\n`,
      );
    }
  } finally {
    await upstream.stop();
  }
}

main().catch((error) => {
  log(`failed: ${error.stack}`);
  process.exitCode = 1;
});
