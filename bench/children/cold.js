'use strict';

// One cold start, in a fresh process: how long from the first line of a Node program to a
// path's first result (loading its library, building its client, the first call on fresh
// connections). run.js runs it several times per path and keeps the median.

const { performance } = require('node:perf_hooks');

const bootMs = performance.now();
const { PATHS, pathModule } = require('../paths');

async function main() {
  const name = process.env.BENCH_PATH;
  const target = JSON.parse(process.env.BENCH_COLD_TARGET);
  const started = performance.now();
  const instance = await pathModule(name).create(target, PATHS[name].options || {});
  const created = performance.now();
  const line = await instance.call();
  const done = performance.now();
  await instance.close();
  process.stdout.write(`${JSON.stringify({
    bootMs,
    requireMs: created - started,
    firstCallMs: done - created,
    totalMs: done - started,
    line,
  })}\n`);
}

main().catch((error) => {
  process.stderr.write(`cold start failed: ${error.stack}\n`);
  process.exit(1);
});
