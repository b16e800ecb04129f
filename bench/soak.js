'use strict';

// `npm run bench:soak`: only the soak, with its own upstream. BENCH_SOAK_CALLS (default
// 200000) and BENCH_SOAK_PATHS (default native; e.g. native,undici-cached) choose the run.
// `npm run bench` runs the same soak at its end.

const { cpuPlan } = require('./lib/affinity');
const { readSettings } = require('./lib/settings');
const { runSoaks } = require('./lib/soak');
const { startUpstream } = require('./lib/upstream-process');

const log = (message) => process.stderr.write(`[bench:soak] ${message}\n`);
const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;

async function main() {
  const settings = readSettings();
  const cpus = cpuPlan(settings.pin);
  const upstream = await startUpstream({ cpus: cpus && cpus.upstream });
  try {
    const soaks = await runSoaks(upstream, settings, cpus && cpus.clients, log);
    for (const soak of soaks) {
      process.stdout.write(
        `${soak.label}: ${soak.calls.toLocaleString('en-US')} calls at ${soak.concurrency} in flight, ` +
          `RSS ${mb(soak.baselineBytes)} after warm-up → ${mb(soak.endBytes)} (growth ${mb(soak.growthBytes)}, peak ${mb(soak.peakBytes)}), ` +
          `${Math.round(soak.throughput).toLocaleString('en-US')} calls/s, ${soak.upstreamConnections} upstream connections, ` +
          `${soak.mismatches + soak.errors} bad results\n`,
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
