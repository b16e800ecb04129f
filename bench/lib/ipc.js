'use strict';

// Request/response over a forked child's IPC channel: the orchestrator awaits each measurement
// phase, and nothing but one small message crosses per phase.

const { fork } = require('node:child_process');

function rpcClient(child) {
  let nextId = 1;
  const pending = new Map();
  child.on('message', (message) => {
    const waiter = message && pending.get(message.replyTo);
    if (!waiter) return;
    pending.delete(message.replyTo);
    if (message.error) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  });
  child.on('exit', (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`child ${child.pid} exited (${code ?? signal})`));
    pending.clear();
  });
  return (command, payload) =>
    new Promise((resolve, reject) => {
      const id = nextId;
      nextId += 1;
      pending.set(id, { resolve, reject });
      child.send({ id, command, payload });
    });
}

/** Forks `script` and resolves to { child, call(command, payload) } once it answers `ready`. */
async function forkWithRpc(script, { env, execArgv = [] } = {}) {
  const child = fork(script, [], { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const call = rpcClient(child);
  await call('ready');
  return { child, call, stop: () => stopChild(child) };
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  return exited;
}

/** The child side: answers each command with handlers[command](payload); exits with its parent. */
function serveRpc(handlers) {
  const all = { ready: () => true, ...handlers };
  process.on('message', async ({ id, command, payload }) => {
    try {
      if (!all[command]) throw new Error(`unknown command ${command}`);
      process.send({ replyTo: id, result: await all[command](payload) });
    } catch (error) {
      process.send({ replyTo: id, error: error.stack || String(error) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

module.exports = { forkWithRpc, serveRpc };
