'use strict';

// CPU and memory of helper processes, read from /proc: process.cpuUsage() only sees Node's
// own process, but the spawn and worker paths do much of their work in Python.

const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

// Fields of /proc/<pid>/stat after the ")" that ends the command name, counted from field 3.
function statFields(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

const ticksToMicros = (ticks) => (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;

/** User + system CPU of a live process, in microseconds (clock-tick resolution). */
function processCpuMicros(pid) {
  const fields = statFields(pid);
  return ticksToMicros(Number(fields[11]) + Number(fields[12]));
}

/** CPU of this process's children that have exited and been reaped, in microseconds. */
function reapedChildrenCpuMicros() {
  const fields = statFields('self');
  return ticksToMicros(Number(fields[13]) + Number(fields[14]));
}

function processRssBytes(pid) {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

module.exports = { processCpuMicros, reapedChildrenCpuMicros, processRssBytes };
