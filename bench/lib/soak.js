'use strict';

// Runs the soak of each path in a fresh child process against a running upstream.

const path = require('node:path');

const { pin } = require('./affinity');
const { forkWithRpc } = require('./ipc');
const { cleanEnv } = require('./drivers');
const { PATHS } = require('../paths');

const SOAK_SCRIPT = path.join(__dirname, '..', 'children', 'soak-child.js');
const SOAK_CONCURRENCY = 64;
const RSS_SAMPLES = 20;

async function runSoaks(upstream, { soakCalls, soakPaths }, cpus, log) {
  const results = [];
  for (const name of soakPaths) {
    log(`soak: ${name}, ${soakCalls} calls at ${SOAK_CONCURRENCY} in flight`);
    const child = await forkWithRpc(SOAK_SCRIPT, {
      env: cleanEnv({ extra: { ...PATHS[name].env, BENCH_PATH: name } }),
      execArgv: ['--expose-gc'],
    });
    pin(child.child.pid, cpus);
    const connectionsBefore = await upstream.connectionsAccepted();
    const target = { scheme: 'http', mode: 'lookup', ...upstream.urls('http') };
    const result = await child.call('soak', { target, calls: soakCalls, concurrency: SOAK_CONCURRENCY, samples: RSS_SAMPLES });
    result.upstreamConnections = (await upstream.connectionsAccepted()) - connectionsBefore;
    result.label = PATHS[name].label;
    await child.stop();
    log(`soak: ${name} RSS ${mb(result.baselineBytes)} → ${mb(result.endBytes)} MB (growth ${mb(result.growthBytes)} MB), ${Math.round(result.throughput)} calls/s`);
    results.push(result);
  }
  return results;
}

const mb = (bytes) => (bytes / 1048576).toFixed(1);

module.exports = { runSoaks };
