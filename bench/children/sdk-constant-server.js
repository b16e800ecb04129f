#!/usr/bin/env node
'use strict';

// The floor of an SDK v2 stdio server, for the benchmark's "call as Letta makes it" section: the
// SDK's serveStdio with one tool that answers a constant (no upstream, no addon). What loading
// and running the SDK costs a process spawned per call, and nothing else.

const { Server } = require('@modelcontextprotocol/server');
const { serveStdio } = require('@modelcontextprotocol/server/stdio');

const TOOL = { name: 'find_tools', description: 'answers a constant', inputSchema: { type: 'object', properties: {} } };
const ANSWER = { content: [{ type: 'text', text: 'constant' }] };

serveStdio(() => {
  const server = new Server({ name: 'constant-floor', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', async () => ({ tools: [TOOL] }));
  server.setRequestHandler('tools/call', async () => ANSWER);
  return server;
});
