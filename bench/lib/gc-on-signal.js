'use strict';

// Preloaded into the MCP server by the soak and by server/disconnect.spec.js alone
// (`node --expose-gc -r <this> src/index.js`): SIGUSR2 runs a full collection and says so on
// stderr, so the RSS the soak then reads from the OS is what the server keeps, not wherever its
// GC cycle happened to be (the direct soak samples after a collection too), and the spec can
// collect at the moment a call is most fragile.

process.on('SIGUSR2', () => {
  global.gc();
  process.stderr.write('[soak] collected\n');
});
