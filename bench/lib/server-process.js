'use strict';

// An MCP server started over Streamable HTTP for the benchmark (its server section and the
// server soak): `node ...nodeArgs --http` on a free loopback port, resolved once it logs where
// it listens.

const { spawn } = require('node:child_process');

const START_TIMEOUT_MS = 30_000;

/** Resolves to { child, url } (url: its /mcp endpoint); child.stderr stays readable. */
function startHttpServer(nodeArgs, env) {
  const child = spawn(process.execPath, [...nodeArgs, '--http'], {
    env: { ...env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const hung = setTimeout(() => reject(new Error(`${nodeArgs.join(' ')} did not start: ${stderr}`)), START_TIMEOUT_MS);
    const onData = (chunk) => {
      stderr += chunk;
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr);
      if (!match) return;
      clearTimeout(hung);
      child.stderr.off('data', onData);
      resolve({ child, url: new URL(`http://127.0.0.1:${match[1]}/mcp`) });
    };
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`${nodeArgs.join(' ')} exited (${code}) before listening: ${stderr}`)));
  });
}

module.exports = { startHttpServer };
