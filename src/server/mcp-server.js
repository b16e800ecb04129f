'use strict';

// One MCP protocol endpoint: stdio has one, Streamable HTTP one per session; all share callTool.
// The low-level Server lists the contract's JSON Schema verbatim and never validates arguments
// against it (legacy accepted anything; tool.js coerces).

const { Server } = require('@modelcontextprotocol/sdk/server/index.js');
const { ListToolsRequestSchema, CallToolRequestSchema } = require('@modelcontextprotocol/sdk/types.js');
const { FIND_TOOLS_TOOL } = require('./tool');
const { version } = require('../../package.json');
const log = require('./log');

const SERVER_NAME = 'letta-tools-selector';

function createMcpServer(callTool) {
  const server = new Server({ name: SERVER_NAME, version }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [FIND_TOOLS_TOOL] }));
  server.setRequestHandler(CallToolRequestSchema, callTool);
  server.onerror = (error) => log.warn(`MCP: ${error.message}`);
  return server;
}

module.exports = { createMcpServer };
