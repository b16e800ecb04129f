'use strict';

// The server rolled back to spawning the legacy-style script: a process per call, so, like the
// spawn path, sequential only.

const { create } = require('./mcp-server');

module.exports = { create, modes: ['stdio'], sequentialOnly: true };
