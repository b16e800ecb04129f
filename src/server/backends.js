'use strict';

// What answers find_tools (contract §7): the native client; the legacy script when rolled back
// with FIND_TOOLS_BACKEND=legacy or when the native binary cannot load here; otherwise an error
// text per call, so that the server still starts and says why.

const fs = require('node:fs');
const log = require('./log');
const { runLegacyScript } = require('./legacy');

function nativeBackend(addon) {
  // Throws on an unusable configuration (a malformed URL...): no backend could serve it.
  const client = new addon.ToolSelectorClient();
  // settings() shows no secret: credentials only as booleans, URL user-info as ***.
  const settings = client.settings();
  return {
    name: 'native',
    description: `native client; Tool Selector at ${settings.toolSelectorUrl}, Letta API at ${settings.lettaApiUrl}`,
    call: (args, { signal }) => client.findTools(args, { signal }),
    stats: () => client.stats(),
    health: () => ({ settings: client.settings(), stats: client.stats() }),
    close: () => client.close(),
  };
}

function legacyBackend(script, processTimeoutMs) {
  if (!fs.existsSync(script)) log.warn(`FIND_TOOLS_LEGACY_SCRIPT ${script} does not exist; calls will fail`);
  return {
    name: 'legacy',
    description: `legacy script: python3 ${script} (killed after ${processTimeoutMs} ms)`,
    call: (args, { signal }) => runLegacyScript(script, args, { timeoutMs: processTimeoutMs, signal }),
    stats: () => null,
    health: () => ({ legacyScript: script, processTimeoutMs }),
    close: () => {},
  };
}

function unavailableBackend(reason) {
  const text = `Error in find_tools: ${reason}`;
  return {
    name: 'unavailable',
    description: `none: ${reason}`,
    call: async () => text,
    stats: () => null,
    health: () => ({ reason }),
    close: () => {},
  };
}

function loadAddon() {
  try {
    return { addon: require('../../index.js') };
  } catch (error) {
    return { loadError: error };
  }
}

/** The backend for config (see config.js); throws only when the native client's configuration is unusable. */
function createBackend({ backend, legacyScript, processTimeoutMs }) {
  if (backend === 'legacy') {
    if (legacyScript) return legacyBackend(legacyScript, processTimeoutMs);
    log.error('FIND_TOOLS_BACKEND=legacy needs FIND_TOOLS_LEGACY_SCRIPT, the path of the legacy find_tools.py');
    return unavailableBackend('FIND_TOOLS_BACKEND=legacy is set but FIND_TOOLS_LEGACY_SCRIPT is not');
  }
  const { addon, loadError } = loadAddon();
  if (addon) return nativeBackend(addon);
  log.error(`the native find_tools client cannot load on ${process.platform}-${process.arch}: ${loadError.message}`);
  if (legacyScript) return legacyBackend(legacyScript, processTimeoutMs);
  return unavailableBackend(
    `the native find_tools client cannot load on this platform and no FIND_TOOLS_LEGACY_SCRIPT is set (see the server log)`,
  );
}

module.exports = { createBackend };
