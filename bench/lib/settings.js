'use strict';

// Knobs, all from the environment so `npm run bench` needs no arguments. The defaults keep a
// run under about five minutes on the 2-core dev machine.

function integer(name, fallback) {
  const value = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

function list(name) {
  const value = (process.env[name] || '').trim();
  return value ? value.split(',').map((item) => item.trim()).filter(Boolean) : null;
}

function readSettings() {
  return {
    rounds: integer('BENCH_ROUNDS', 4),
    sequentialCalls: integer('BENCH_SEQUENTIAL_CALLS', 400),
    spawnCalls: integer('BENCH_SPAWN_CALLS', 8),
    phaseMs: integer('BENCH_PHASE_MS', 500),
    sporadicCalls: integer('BENCH_SPORADIC_CALLS', 600),
    sporadicIntervalMs: integer('BENCH_SPORADIC_INTERVAL_MS', 5),
    sporadicBurstCalls: integer('BENCH_SPORADIC_BURST_CALLS', 40),
    // One in flight is the sequential phase (a closed loop of one), so it is not run twice.
    concurrency: (list('BENCH_CONCURRENCY') || ['16', '64', '256']).map(Number),
    warmupCalls: integer('BENCH_WARMUP_CALLS', 300),
    coldRuns: integer('BENCH_COLD_RUNS', 5),
    soakCalls: integer('BENCH_SOAK_CALLS', 200_000),
    soakPaths: list('BENCH_SOAK_PATHS') || ['native'],
    serverSoakTransports: list('BENCH_SOAK_SERVER') || ['stdio', 'http'],
    cases: list('BENCH_CASES'),
    // The section of a find_tools call as Letta makes it (letta-calls.js); 0 skips it.
    lettaRounds: integer('BENCH_LETTA_ROUNDS', 15),
    // 'current' is the Node running the bench; a major is the one scripts/node-versions.js pins.
    lettaNodes: list('BENCH_LETTA_NODES') || ['current', '22'],
    // A checkout of an earlier version (built, with its node_modules) whose server joins the server section.
    serverBefore: process.env.BENCH_SERVER_BEFORE || null,
    pin: process.env.BENCH_PIN !== '0',
    resultsDir: process.env.BENCH_RESULTS_DIR || require('node:path').join(__dirname, '..', 'results'),
  };
}

module.exports = { readSettings };
