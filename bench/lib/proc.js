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

// A /proc stat file (of a process or of a thread): its command name, and the fields after the
// ")" that ends it, counted from field 3.
function readStat(file) {
  const stat = fs.readFileSync(file, 'utf8');
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
}

const statFields = (pid) => readStat(`/proc/${pid}/stat`).fields;

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

/**
 * Every thread of a live process: {tid, name, cpuMicros (exact, from schedstat), userMicros and
 * systemMicros (clock-tick resolution), switches (voluntary and not)}.
 */
function processThreads(pid) {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const task = `/proc/${pid}/task/${tid}`;
    const { name, fields } = readStat(`${task}/stat`);
    const status = fs.readFileSync(`${task}/status`, 'utf8');
    const count = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)[1]);
    return {
      tid,
      name,
      cpuMicros: Number(fs.readFileSync(`${task}/schedstat`, 'utf8').split(' ')[0]) / 1000,
      userMicros: ticksToMicros(Number(fields[11])),
      systemMicros: ticksToMicros(Number(fields[12])),
      switches: count('voluntary_ctxt_switches') + count('nonvoluntary_ctxt_switches'),
    };
  });
}

module.exports = { processCpuMicros, reapedChildrenCpuMicros, processRssBytes, processThreads };
