'use strict';

// Who the MCP server says it is and what it offers, for the SDK's server (mcp-server.js) and the
// stdio lean path (stdio-lean.js) alike; kept apart from both so that the lean path can read them
// without loading the SDK.

const { version } = require('../../package.json');

const SERVER_INFO = Object.freeze({ name: 'letta-tools-selector', version });
const CAPABILITIES = Object.freeze({ tools: Object.freeze({}) });

module.exports = { SERVER_INFO, CAPABILITIES };
