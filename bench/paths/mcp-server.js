'use strict';

// The server section: tools/call through an MCP server as a client sees it, the SDK v2 client
// in this driver process and the server in a child process, over stdio or Streamable HTTP
// (options.transport). The server is this package's (the native client, or the legacy script
// it rolls back to), the forwarding floor (bench/children/forwarding-server.js), or the server of the
// checkout BENCH_SERVER_BEFORE names (an earlier version, built, with its node_modules).

const path = require('node:path');
const { Client, StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');
const { StdioClientTransport } = require('@modelcontextprotocol/client/stdio');

const { CALL_ARGS, FIND_TOOLS_ID } = require('../lib/payloads');
const { processCpuMicros, processRssBytes } = require('../lib/proc');
const { startHttpServer } = require('../lib/server-process');
const { pythonEnv } = require('./python-env');

const LEGACY_SCRIPT = path.join(__dirname, '..', 'children', 'legacy_find_tools.py');
const ENTRIES = {
  package: () => path.join(__dirname, '..', '..', 'src', 'index.js'),
  before: () => path.join(process.env.BENCH_SERVER_BEFORE, 'src', 'index.js'),
  forwarding: () => path.join(__dirname, '..', 'children', 'forwarding-server.js'),
};

// The native server gets the find_tools id configured, so that, like the forwarding floor, it
// sends one POST per call; the legacy-style script looks the id up on every call whatever it is told.
function serverEnv(target, { backend }) {
  const env = { ...pythonEnv(target), FIND_TOOLS_TOOL_ID: FIND_TOOLS_ID };
  if (backend === 'legacy') Object.assign(env, { FIND_TOOLS_BACKEND: 'legacy', FIND_TOOLS_LEGACY_SCRIPT: LEGACY_SCRIPT });
  return env;
}

async function create(target, options) {
  const entry = ENTRIES[options.server]();
  const env = serverEnv(target, options);
  // The 2025 handshake, as Letta's client connects today.
  const client = new Client({ name: 'bench', version: '1.0.0' });
  let pid;
  let httpChild;
  if (options.transport === 'http') {
    const started = await startHttpServer([entry], env);
    httpChild = started.child;
    pid = httpChild.pid;
    await client.connect(new StreamableHTTPClientTransport(started.url));
  } else {
    const transport = new StdioClientTransport({ command: process.execPath, args: [entry], env, stderr: 'ignore' });
    await client.connect(transport);
    pid = transport.pid;
  }
  const call = async () => {
    const result = await client.callTool({ name: 'find_tools', arguments: CALL_ARGS });
    return result.content[0].text;
  };
  return {
    call,
    helperCpuMicros: () => processCpuMicros(pid),
    helperRssBytes: () => processRssBytes(pid),
    close: async () => {
      await client.close();
      httpChild?.kill('SIGTERM');
    },
  };
}

module.exports = { create, modes: ['stdio', 'http'] };
