'use strict';

// The MCP server instance the SDK's entries build per HTTP request and per stdio connection;
// every instance shares callTool. The low-level Server lists the JSON Schema of BEHAVIOUR.md §6
// verbatim and never validates arguments against it (legacy accepted anything; tool.js coerces).

const { Server } = require('@modelcontextprotocol/server');
const { FIND_TOOLS_TOOL } = require('./tool');
const { SERVER_INFO, CAPABILITIES } = require('./identity');
const log = require('./log');

function createMcpServer(callTool) {
  const server = new Server({ ...SERVER_INFO }, { capabilities: CAPABILITIES });
  server.setRequestHandler('tools/list', async () => ({ tools: [FIND_TOOLS_TOOL] }));
  server.setRequestHandler('tools/call', callTool);
  server.onerror = (error) => log.warn(`MCP: ${error.message}`);
  return server;
}

module.exports = { createMcpServer };
