#!/usr/bin/env node
'use strict';

// The letta-find-tools MCP server: `node src/index.js` serves stdio, `--http` Streamable HTTP.

// A stdio server is spawned for every call (as Letta runs it), so this loads only what stdio needs:
// the SDK and the HTTP modules are required where they are used.
const { readServerConfig } = require('./server/config');
const { createBackend } = require('./server/backends');
const { InFlight } = require('./server/in-flight');
const { createFindTools, createCallToolHandler } = require('./server/tool');
const { serveStdio } = require('./server/stdio-server');
const log = require('./server/log');

const USAGE = 'usage: letta-find-tools-mcp [--stdio | --http]';

function transportFromArgv(argv) {
  const unknown = argv.filter((arg) => arg !== '--http' && arg !== '--stdio');
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown[0]}; ${USAGE}`);
  return argv.includes('--http') ? 'http' : 'stdio';
}

const createMcpServer = (callTool) => require('./server/mcp-server').createMcpServer(callTool);

async function serveHttp(options) {
  const { startHttpServer } = require('./server/http-server');
  const { isLoopback } = require('./server/guards');
  if (!options.authToken && !isLoopback(options.host)) {
    log.warn(`bound to ${options.host} without MCP_AUTH_TOKEN: anyone who can reach the port can change any agent's tools`);
  }
  const http = await startHttpServer(options);
  const auth = options.authToken ? 'bearer token required' : 'no auth';
  log.info(`listening on http://${options.host}:${http.port} (MCP at /mcp, POST /find_tools, GET /health, GET /metrics; ${auth})`);
  return http;
}

/** Stops accepting, lets calls in flight finish (at most timeoutMs), closes everything, exits. */
function gracefulShutdown({ serving, backend, inFlight, timeoutMs }) {
  let started = false;
  return async (reason) => {
    if (started) return;
    started = true;
    log.info(`${reason}: stopping; ${inFlight.size} call(s) in flight`);
    let exitCode = 0;
    try {
      serving.stopAccepting();
      if (!(await inFlight.whenIdle(timeoutMs))) {
        log.warn(`${inFlight.size} call(s) still in flight after ${timeoutMs} ms; stopping anyway`);
      }
      // The SDK sends a finished call's answer a few promise turns after the handler returns.
      await new Promise((resolve) => setImmediate(resolve));
      await serving.close();
      backend.close();
    } catch (error) {
      log.error(`shutdown: ${error.stack ?? error}`);
      exitCode = 1;
    }
    process.exit(exitCode);
  };
}

// The native client's warnings (its configuration's among them) come out in this log's format:
// registered before any client is built. An addon that cannot load is backends.js's to report.
function logNativeWarnings() {
  let addon;
  try {
    addon = require('../index.js');
  } catch {
    return;
  }
  addon.onWarning((message) => log.warn(message, { source: 'native' }));
}

async function main() {
  log.configure();
  logNativeWarnings();
  const transport = transportFromArgv(process.argv.slice(2));
  const config = readServerConfig();
  const backend = createBackend(config);
  log.info(`find_tools backend: ${backend.description}`);

  const inFlight = new InFlight();
  // Only HTTP serves /metrics.
  const { createMetrics, UNCOUNTED } = require('./server/metrics');
  const metrics = transport === 'http' ? createMetrics({ backend, inFlight }) : UNCOUNTED;
  const findTools = createFindTools({ backend, agentIdPolicy: config.agentId, inFlight, metrics });
  const callTool = createCallToolHandler(findTools);
  const createServer = () => createMcpServer(callTool);

  if (transport === 'stdio') {
    serveStdio({ createServer, callTool, inFlight, lean: config.stdioLean, shutdownTimeoutMs: config.shutdownTimeoutMs, close: () => backend.close() });
    return;
  }
  const serving = await serveHttp({ ...config.http, createServer, findTools, backend, inFlight, metrics });
  const shutdown = gracefulShutdown({ serving, backend, inFlight, timeoutMs: config.shutdownTimeoutMs });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error) => {
  log.error(`cannot start: ${error.message}`);
  process.exit(1);
});
