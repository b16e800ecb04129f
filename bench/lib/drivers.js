'use strict';

// Starts one driver process per compared path, with a clean environment: nothing of the
// developer's own TOOLS_API_* / FIND_TOOLS_* / LETTA_* settings leaks into a measurement.

const path = require('node:path');

const { pin } = require('./affinity');
const { forkWithRpc } = require('./ipc');
const { PATHS } = require('../paths');

const DRIVER_SCRIPT = path.join(__dirname, '..', 'children', 'driver.js');
const PROJECT_VARIABLES = /^(TOOLS_API_|TOOL_SELECTOR_|FIND_TOOLS_|LETTA_|WEAVIATE_TOOLS_API_URL$)/;

/** process.env without the project's variables; the bench CA replaces any extra CA bundle. */
function cleanEnv({ caFile, extra = {} } = {}) {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!PROJECT_VARIABLES.test(name)) env[name] = value;
  }
  delete env.NODE_EXTRA_CA_CERTS;
  if (caFile) env.NODE_EXTRA_CA_CERTS = caFile;
  return { ...env, ...extra };
}

async function startDrivers(pathNames, { caFile, cpus }) {
  const drivers = {};
  for (const name of pathNames) {
    const env = cleanEnv({ caFile, extra: { ...PATHS[name].env, BENCH_PATH: name } });
    // --expose-gc: memory is sampled after a collection, so RSS is what the path keeps.
    drivers[name] = await forkWithRpc(DRIVER_SCRIPT, { env, execArgv: ['--expose-gc'] });
    // Pinned before any client exists, so the addon's tokio thread inherits the mask.
    pin(drivers[name].child.pid, cpus);
  }
  return drivers;
}

module.exports = { startDrivers, cleanEnv };
