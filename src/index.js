#!/usr/bin/env node
'use strict';

// The letta-find-tools MCP server: `node src/index.js` serves stdio, `--http` Streamable HTTP.

const { serveStdio } = require('@modelcontextprotocol/server/stdio');
const { readServerConfig } = require('./server/config');
const { createBackend } = require('./server/backends');
const { InFlight } = require('./server/in-flight');
const { createMetrics } = require('./server/metrics');
const { createFindTools, createCallToolHandler } = require('./server/tool');
const { createMcpServer } = require('./server/mcp-server');
const { startHttpServer } = require('./server/http-server');
const { isLoopback } = require('./server/guards');
const log = require('./server/log');

const USAGE = 'usage: letta-find-tools-mcp [--stdio | --http]';

function transportFromArgv(argv) {
  const unknown = argv.filter((arg) => arg !== '--http' && arg !== '--stdio');
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown[0]}; ${USAGE}`);
  return argv.includes('--http') ? 'http' : 'stdio';
}

// serveStdio pins one server to the connection, in whichever era its first message speaks.
function serveOverStdio(createServer) {
  const handle = serveStdio(createServer, { onerror: (error) => log.warn(`MCP: ${error.message}`) });
  log.info('serving MCP over stdio');
  return {
    // Answers to calls already read still go out on stdout.
    stopAccepting: () => process.stdin.pause(),
    close: () => handle.close(),
  };
}

async function serveHttp(options) {
  if (!options.authToken && !isLoopback(options.host)) {
    log.warn(`bound to ${options.host} without MCP_AUTH_TOKEN: anyone who can reach the port can change any agent's tools`);
  }
  const http = await startHttpServer(options);
  const auth = options.authToken ? 'bearer token required' : 'no auth';
  log.info(`listening on http://${options.host}:${http.port} (MCP at /mcp, POST /find_tools, GET /health, GET /metrics; ${auth})`);
  return http;
}

function flushStdout() {
  return new Promise((resolve) => process.stdout.write('', resolve));
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
      await flushStdout();
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
  const metrics = createMetrics({ backend, inFlight });
  const findTools = createFindTools({ backend, agentIdPolicy: config.agentId, inFlight, metrics });
  const callTool = createCallToolHandler(findTools);
  const createServer = () => createMcpServer(callTool);

  const serving =
    transport === 'http'
      ? await serveHttp({ ...config.http, createServer, findTools, backend, inFlight, metrics })
      : serveOverStdio(createServer);

  const shutdown = gracefulShutdown({ serving, backend, inFlight, timeoutMs: config.shutdownTimeoutMs });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  if (transport === 'stdio') {
    // The MCP client closing our stdin is its way of saying goodbye; a closed stdout (EPIPE) means it is gone.
    process.stdin.on('end', () => shutdown('stdin closed'));
    process.stdout.on('error', (error) => shutdown(`stdout: ${error.code ?? error.message}`));
  }
}

main().catch((error) => {
  log.error(`cannot start: ${error.message}`);
  process.exit(1);
});
