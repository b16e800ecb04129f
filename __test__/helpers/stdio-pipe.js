'use strict';

// The stdio server driven through a raw pipe, as a client that writes its lines and says goodbye
// (closes stdin) without waiting for the answers, the way Letta's client ends a call.

const { spawnServer } = require('./server');
// The lines as Letta's Python client writes them: one owner, the benchmark's exchange.
const { pythonStyle, initializeLine, INITIALIZED_LINE, toolCallLine, toolsListLine } = require('../../bench/lib/letta-exchange');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Spawns the server with env, ready once it says it serves stdio. */
async function startPipe(env) {
  const server = spawnServer([], env, /serving MCP over stdio/);
  await server.started;
  return {
    ...server,
    write: (text) => new Promise((resolve, reject) => server.child.stdin.write(text, (error) => (error ? reject(error) : resolve()))),
    send(lines) {
      return this.write(lines.map((line) => `${line}\n`).join(''));
    },
    stdoutLines: () => server.output.stdout.split('\n').filter(Boolean),
    answers: () =>
      server.output.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

/** Writes lines, closes stdin at once, and resolves to the exit, stdout's lines and stderr. */
async function runPipe(env, lines) {
  const pipe = await startPipe(env);
  await pipe.send(lines);
  pipe.child.stdin.end();
  const exit = await pipe.exited();
  return { exit, lines: pipe.stdoutLines(), stderr: pipe.output.stderr };
}

/** Resolves once ready() holds, checking every 10 ms for at most timeoutMs (then throws what). */
async function until(ready, what, timeoutMs = 10000) {
  for (const deadline = Date.now() + timeoutMs; !ready(); await sleep(10)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

module.exports = { pythonStyle, initializeLine, INITIALIZED_LINE, toolCallLine, toolsListLine, startPipe, runPipe, until, sleep };
