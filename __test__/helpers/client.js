'use strict';

// A client of the built addon pointed at a local test server, its environment given explicitly
// so that nothing from the developer's own environment leaks into a spec.
const { ToolSelectorClient } = require('../..');

/** Both upstreams at `url`, plain http allowed, a 5 s budget; `env` and `options` win. */
function localClient(url, env = {}, options = {}) {
  return new ToolSelectorClient({
    env: {
      TOOLS_API_BASE_URL: url,
      TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
      LETTA_API_URL: url,
      TOOLS_API_TIMEOUT: '5',
      ...env,
    },
    ...options,
  });
}

module.exports = { localClient };
