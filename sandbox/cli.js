#!/usr/bin/env node
'use strict';

// `npm run sandbox`: the sandbox upstream on fixed ports, so a client can be pointed at it by hand.
// stdout carries only the URLs and the environment to use (a valid dotenv file); logs go to stderr.

const { startSandbox } = require('./server');

function portFromEnv(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be a port number (0-65535), got '${text}'`);
  }
  return port;
}

function logResponse({ to, method, path, status, durationMs }) {
  process.stderr.write(`[sandbox] ${to} ${method} ${path} -> ${status} (${durationMs} ms)\n`);
}

function printUsage(sandbox) {
  const lines = [
    `# Tool Selector sandbox: ${sandbox.toolSelectorUrl}`,
    `# Letta API sandbox:     ${sandbox.lettaUrl}`,
    `# Agents: ${[...sandbox.state.agents.keys()].join(', ')}`,
    '# Point the client at the sandbox with:',
    `TOOLS_API_BASE_URL=${sandbox.toolSelectorUrl}`,
    'TOOLS_API_ALLOW_INSECURE_HTTP=true',
    `LETTA_API_URL=${sandbox.lettaUrl}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function stopOnSignals(sandbox) {
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[sandbox] ${signal}: stopping\n`);
    sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function main() {
  const sandbox = await startSandbox({
    toolSelectorPort: portFromEnv('SANDBOX_TOOL_SELECTOR_PORT', 8020),
    lettaPort: portFromEnv('SANDBOX_LETTA_PORT', 8283),
    onResponse: logResponse,
  });
  stopOnSignals(sandbox);
  printUsage(sandbox);
}

main().catch((error) => {
  process.stderr.write(`[sandbox] cannot start: ${error.message}\n`);
  process.exit(1);
});
