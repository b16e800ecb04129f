'use strict';

// Path 5: the worker hop the legacy team proposed. The MCP side POSTs the arguments to a local
// Python worker (worker_hop.py, one per target) through an undici.Pool; the worker keeps pooled
// connections to the upstream and does the legacy work.

const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');

const { CALL_ARGS } = require('../lib/payloads');
const { processCpuMicros, processRssBytes } = require('../lib/proc');
const { pythonEnv } = require('./python-env');

const SCRIPT = path.join(__dirname, '..', 'children', 'worker_hop.py');
const JSON_HEADERS = { 'content-type': 'application/json' };

function startWorker(env) {
  const child = spawn('python3', [SCRIPT], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve({ child, port: Number(line) }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`worker_hop.py exited (${code}) before listening`)));
  });
}

// target.workerUrl reuses a running worker (the cold-start measurement); otherwise one starts.
async function create(target) {
  const { Pool } = require('undici');
  const { child, port } = target.workerUrl ? { child: null, port: new URL(target.workerUrl).port } : await startWorker(pythonEnv(target));
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 32 });
  const body = JSON.stringify(CALL_ARGS);
  const call = async () => {
    const reply = await pool.request({ path: '/find_tools', method: 'POST', headers: JSON_HEADERS, body });
    return reply.body.text();
  };
  return {
    call,
    workerUrl: `http://127.0.0.1:${port}`,
    helperCpuMicros: child && (() => processCpuMicros(child.pid)),
    helperRssBytes: child && (() => processRssBytes(child.pid)),
    close: async () => {
      await pool.close();
      if (child) child.kill();
    },
  };
}

module.exports = { create, modes: ['lookup'] };
