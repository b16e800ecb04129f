'use strict';

// Every log line goes to stderr: in stdio mode stdout carries nothing but the MCP protocol.

const PREFIX = '[letta-find-tools-mcp]';

const warned = new Set();

function write(level, message) {
  process.stderr.write(`${PREFIX} ${level}: ${message}\n`);
}

module.exports = {
  info: (message) => write('info', message),
  warn: (message) => write('warning', message),
  error: (message) => write('error', message),
  // Configuration warnings would otherwise repeat once per session or per call.
  warnOnce(message) {
    if (warned.has(message)) return;
    warned.add(message);
    write('warning', message);
  },
};
