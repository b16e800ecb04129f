'use strict';

// CPU placement. On this 2-core machine where a process lands decides a sequential call's
// latency more than the client does: a wake-up across cores costs ~20 µs here, and the
// scheduler moves a ping-pong pair about at will. So by default the upstream gets the last
// core and every client (driver, its Python helpers, cold starts, soak) the others, which is
// also closer to production, where the upstream is another machine. BENCH_PIN=0 turns it off.

const os = require('node:os');
const { execFileSync } = require('node:child_process');

function tasksetWorks() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** { clients: '0', upstream: '1' } style CPU lists, or null when not pinning. */
function cpuPlan(enabled) {
  const cpus = os.cpus().length;
  if (!enabled || cpus < 2 || !tasksetWorks()) return null;
  return { clients: cpus === 2 ? '0' : `0-${cpus - 2}`, upstream: String(cpus - 1) };
}

/** Pins every thread of `pid`; threads it starts later inherit the mask. */
function pin(pid, cpuList) {
  if (cpuList) execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/** [command, args] that run `args` on `cpuList` (for execFile). */
function pinnedCommand(cpuList, command, args) {
  return cpuList ? ['taskset', ['-c', cpuList, command, ...args]] : [command, args];
}

module.exports = { cpuPlan, pin, pinnedCommand };
