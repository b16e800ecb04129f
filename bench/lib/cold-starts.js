'use strict';

// Cold require + first call: bench/children/cold.js in a fresh Node process per run, paths alternating.

const path = require('node:path');
const { execFile } = require('node:child_process');

const { pinnedCommand } = require('./affinity');
const { cleanEnv } = require('./drivers');
const { rotate, median } = require('./numbers');
const { PATHS } = require('../paths');

const COLD_SCRIPT = path.join(__dirname, '..', 'children', 'cold.js');

function coldStart(pathName, target, { caFile, cpus }) {
  const env = cleanEnv({
    caFile,
    extra: { ...PATHS[pathName].env, BENCH_PATH: pathName, BENCH_COLD_TARGET: JSON.stringify(target) },
  });
  return new Promise((resolve, reject) => {
    const [command, args] = pinnedCommand(cpus, process.execPath, [COLD_SCRIPT]);
    execFile(command, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`cold start of ${pathName} failed: ${error.message} ${stderr}`));
      return resolve(JSON.parse(stdout));
    });
  });
}

/**
 * lanes: [{ id, path, target, expected }]. Resolves to { [laneId]: { bootMs, requireMs,
 * firstCallMs, totalMs, runs, lineMatches } } (medians over `runs`).
 */
async function measureColdStarts(lanes, { runs, caFile, cpus }, log) {
  const byLane = Object.fromEntries(lanes.map((lane) => [lane.id, []]));
  for (let run = 0; run < runs; run += 1) {
    for (const lane of rotate(lanes, run)) {
      byLane[lane.id].push(await coldStart(lane.path, lane.target, { caFile, cpus }));
    }
  }
  const summary = {};
  for (const lane of lanes) {
    const results = byLane[lane.id];
    const medianOf = (field) => median(results.map((result) => result[field]));
    summary[lane.id] = {
      bootMs: medianOf('bootMs'),
      requireMs: medianOf('requireMs'),
      firstCallMs: medianOf('firstCallMs'),
      totalMs: medianOf('totalMs'),
      runs: results.length,
      lineMatches: results.every((result) => result.line === lane.expected),
    };
    log(`cold: ${lane.id} require+create ${summary[lane.id].requireMs.toFixed(2)} ms, first call ${summary[lane.id].firstCallMs.toFixed(2)} ms`);
  }
  return summary;
}

module.exports = { measureColdStarts };
