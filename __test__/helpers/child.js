'use strict';

// A fresh Node process for specs that need one (a leak count, an exit, a warning printed once
// per process), with nothing of jest's environment but PATH.

const { spawn } = require('node:child_process');

/**
 * Runs `node ...args` with env added to PATH; resolves to {code, signal, stdout, stderr}. Not a
 * timing assertion: a child still alive after killAfterMs is hung, is killed, and says so by
 * its signal.
 */
function runNode(args, { env = {}, killAfterMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const hung = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(hung);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

module.exports = { runNode };
