'use strict';

// Path 1: the addon's findTools(), one explicit client per target.

const path = require('node:path');

const { CALL_ARGS, FIND_TOOLS_ID } = require('../lib/payloads');

const PACKAGE_ROOT = path.join(__dirname, '..', '..');
// A lookup cache that forgets at once: every call does the lookup and the attach.
const NO_CACHE_TTL_MS = 0.001;

function create({ toolSelectorUrl, lettaUrl, mode }) {
  const { ToolSelectorClient } = require(PACKAGE_ROOT);
  const client = new ToolSelectorClient({
    baseUrl: toolSelectorUrl,
    lettaApiUrl: lettaUrl,
    allowInsecureHttp: true,
    connections: 32,
    toolId: mode === 'fixed-id' ? FIND_TOOLS_ID : undefined,
    lookupCacheTtl: mode === 'no-cache' ? NO_CACHE_TTL_MS : undefined,
  });
  return {
    call: (options) => client.findTools(CALL_ARGS, options),
    connectionsOpened: () => client.stats().connectionsOpened,
    close: () => client.close(),
  };
}

module.exports = { create, modes: ['lookup', 'fixed-id', 'no-cache'] };
