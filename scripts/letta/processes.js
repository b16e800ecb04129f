'use strict';

// Child processes of `npm run test:letta`: commands run to completion with a bound, long-running
// services tracked by pid so that every one is stopped, also on failure and on SIGINT.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');

const POLL_INTERVAL_MS = 250;
// Commands running to completion (installs, migrations, jest): on SIGINT they are killed by pid.
const commands = new Set();
// A service given this long after SIGTERM (postgres's "smart" shutdown, uvicorn's) is SIGKILLed.
const STOP_GRACE_MS = 10000;

/**
 * Runs a command to its end with its output in logPath; resolves, or rejects with the log's
 * tail when it fails or overruns timeoutMs (then it is SIGKILLed).
 */
function runLogged(command, args, { env, cwd, logPath, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logPath, 'a');
    const child = track(spawn(command, args, { env, cwd, stdio: ['ignore', log, log] }));
    fs.closeSync(log);
    const overrun = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(overrun);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(overrun);
      if (code === 0) return resolve();
      const how = signal === 'SIGKILL' ? `was stopped after ${timeoutMs} ms` : `failed (${signal ?? `exit ${code}`})`;
      reject(new Error(`${command} ${args.join(' ')} ${how}; its log (${logPath}) ends:\n${tailOf(logPath)}`));
    });
  });
}

/** Registers a command's child so that killCommands() ends it; returns the child. */
function track(child) {
  commands.add(child);
  child.once('exit', () => commands.delete(child));
  return child;
}

function killCommands() {
  for (const child of commands) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
}

function tailOf(logPath, lines = 40) {
  try {
    return fs.readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Long-running children, stopped newest first by their pids. */
class Services {
  constructor() {
    this.running = [];
  }

  start(name, command, args, { env, cwd, logPath }) {
    const log = fs.openSync(logPath, 'a');
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const service = { name, child, exited, logPath };
    child.once('error', () => {}); // surfaces as an exit before ready, with the log
    this.running.push(service);
    return service;
  }

  async stopAll() {
    for (const service of this.running.reverse()) await stop(service);
    this.running = [];
  }
}

async function stop({ child, exited }) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, 'SIGTERM');
  const grace = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS, 'overran'));
  if ((await Promise.race([exited, grace])) === 'overran') {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

/**
 * Resolves once ready() is true; rejects when the service exits first or timeoutMs passes, with
 * its log's tail.
 */
async function waitUntilReady(service, ready, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let exit = null;
  service.exited.then((result) => (exit = result));
  while (Date.now() < deadline) {
    if (exit) break;
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  const why = exit ? `exited (${exit.signal ?? `exit ${exit.code}`})` : `was not ready after ${timeoutMs} ms`;
  throw new Error(`${service.name} ${why}; its log (${service.logPath}) ends:\n${tailOf(service.logPath)}`);
}

/** Whether something accepts connections on 127.0.0.1:port. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

module.exports = { runLogged, track, killCommands, Services, waitUntilReady, accepts };
