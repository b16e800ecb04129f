'use strict';

// What answers find_tools (BEHAVIOUR.md §7): the native client; the legacy script when rolled back
// with FIND_TOOLS_BACKEND=legacy or when the native binary cannot load here; otherwise an error
// text per call, so that the server still starts and says why. Each backend's call(args, signal)
// resolves to {text, outcome} and its stats() counts calls, errors and timeouts.

const fs = require('node:fs');
const log = require('./log');

/**
 * The counts the native client keeps in stats(), kept in JS for the backends that have no
 * native client, so that every backend reports the same facts.
 */
function callTally() {
  const counts = { calls: 0, errors: 0, timeouts: 0 };
  return {
    stats: () => ({ ...counts }),
    async count(answering) {
      counts.calls += 1;
      const answered = await answering;
      if (answered.outcome !== 'success') counts.errors += 1;
      if (answered.outcome === 'timeout') counts.timeouts += 1;
      return answered;
    },
  };
}

function nativeBackend(addon) {
  // Throws on an unusable configuration (a malformed URL...): no backend could serve it.
  const client = new addon.ToolSelectorClient();
  // settings() shows no secret: credentials only as booleans, URL user-info as ***.
  const settings = client.settings();
  return {
    name: 'native',
    description: `native client; Tool Selector at ${settings.toolSelectorUrl}, Letta API at ${settings.lettaApiUrl}`,
    // The client says how the call ended; its result line is never parsed here.
    call: (args, signal) => client.findToolsOutcome(args, { signal }).then(({ result, outcome }) => ({ text: result, outcome })),
    stats: () => client.stats(),
    health: () => ({ settings: client.settings(), stats: client.stats() }),
    close: () => client.close(),
  };
}

function legacyBackend(script, processTimeoutMs) {
  // Here, not at the top: node:child_process is a few ms of a stdio server's start-up otherwise.
  const { runLegacyScript } = require('./legacy');
  if (!fs.existsSync(script)) log.warn(`FIND_TOOLS_LEGACY_SCRIPT ${script} does not exist; calls will fail`);
  const tally = callTally();
  return {
    name: 'legacy',
    description: `legacy script: python3 ${script} (killed after ${processTimeoutMs} ms)`,
    call: (args, signal) => tally.count(runLegacyScript(script, args, { timeoutMs: processTimeoutMs, signal })),
    stats: tally.stats,
    health: () => ({ legacyScript: script, processTimeoutMs }),
    close: () => {},
  };
}

function unavailableBackend(reason) {
  const answer = { text: `Error in find_tools: ${reason}`, outcome: 'error' };
  const tally = callTally();
  return {
    name: 'unavailable',
    description: `none: ${reason}`,
    call: () => tally.count(Promise.resolve(answer)),
    stats: tally.stats,
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
