#!/usr/bin/env node
'use strict';

// The floor of any forwarding MCP server, for the benchmark's server section: the same SDK v2
// entries as src/index.js (serveStdio, createMcpHandler on node:http), and a tools/call that
// sends the finished attach body with one raw undici POST and answers the upstream's body as is.
// No argument handling, no lookup, no re-spelling; the SDK's per-call AbortSignal goes to undici,
// as any forwarding server must pass it on (a cancelled call must not go on to attach).
// `--http` serves Streamable HTTP.

const http = require('node:http');
const { Pool } = require('undici');
const { Server, createMcpHandler } = require('@modelcontextprotocol/server');
const { serveStdio } = require('@modelcontextprotocol/server/stdio');
const { toNodeHandler } = require('@modelcontextprotocol/node');
const { CALL_ARGS, FIND_TOOLS_ID } = require('../lib/payloads');
const { attachBody, sanitize } = require('../paths/port');

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };
const CONNECTIONS = 32;

const attachUrl = new URL(`${process.env.TOOLS_API_BASE_URL.replace(/\/+$/, '')}/api/v1/tools/attach`);
const pool = new Pool(attachUrl.origin, { connections: CONNECTIONS });
const body = attachBody(sanitize(CALL_ARGS), FIND_TOOLS_ID);
const TOOL = { name: 'find_tools', description: 'forwards', inputSchema: { type: 'object', properties: {} } };

async function forward(request, ctx) {
  const reply = await pool.request({ path: attachUrl.pathname, method: 'POST', headers: JSON_HEADERS, body, signal: ctx.mcpReq.signal });
  return { content: [{ type: 'text', text: await reply.body.text() }] };
}

function createServer() {
  const server = new Server({ name: 'forwarding-floor', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', async () => ({ tools: [TOOL] }));
  server.setRequestHandler('tools/call', forward);
  return server;
}

if (process.argv.includes('--http')) {
  const serveMcp = toNodeHandler(createMcpHandler(createServer));
  const httpServer = http.createServer((req, res) => void serveMcp(req, res));
  httpServer.listen(0, '127.0.0.1', () => process.stderr.write(`listening on http://127.0.0.1:${httpServer.address().port}\n`));
} else {
  serveStdio(createServer);
  process.stderr.write('serving MCP over stdio\n');
}
