'use strict';

// Every compared path: which module drives it, with which options, and the environment its
// driver process starts with (FIND_TOOLS_WORKER_THREADS is read once, when the addon loads).

function serverPaths(name, label, options, extra = {}) {
  return Object.fromEntries(
    ['stdio', 'http'].map((transport) => [
      `${name}-${transport}`,
      { label: `${label}, ${transport === 'http' ? 'HTTP' : 'stdio'}`, module: 'mcp-server', options: { ...options, transport }, ...extra },
    ]),
  );
}

const PATHS = {
  native: { label: 'native findTools()', module: 'native' },
  'native-2w': { label: 'native, 2 tokio workers', module: 'native', env: { FIND_TOOLS_WORKER_THREADS: '2' } },
  'undici-legacy': { label: 'undici.Pool port, lookup per call', module: 'js-port', options: { transport: 'undici', flavour: 'legacy' } },
  'undici-cached': { label: 'undici.Pool port, our cache', module: 'js-port', options: { transport: 'undici', flavour: 'cached' } },
  'fetch-legacy': { label: 'fetch port, lookup per call', module: 'js-port', options: { transport: 'fetch', flavour: 'legacy' } },
  'fetch-cached': { label: 'fetch port, our cache', module: 'js-port', options: { transport: 'fetch', flavour: 'cached' } },
  spawn: { label: 'spawn python3 per call', module: 'spawn', python: true },
  worker: { label: 'worker hop (Python, pooled)', module: 'worker', python: true },
  // The server section: one driver per server, so that each server's RSS is its own.
  ...serverPaths('server-native', 'MCP server, native', { server: 'package', backend: 'native' }),
  ...serverPaths('server-forwarding', 'forwarding floor', { server: 'forwarding' }, { forwardsRaw: true }),
  ...serverPaths('server-before', 'earlier MCP server, native', { server: 'before', backend: 'native' }),
  'server-spawn-stdio': { label: 'MCP server, legacy script, stdio', module: 'mcp-server-legacy', options: { server: 'package', backend: 'legacy' }, python: true },
};

function pathModule(name) {
  return require(`./${PATHS[name].module}`);
}

module.exports = { PATHS, pathModule };
