'use strict';

// The three load shapes, run inside a driver process: sequential calls, a closed loop with N
// calls in flight, and sporadic calls on a fixed schedule (the MCP pattern). Every result line
// is compared with the one verified before timing, so a path that starts failing under load
// cannot look fast.

const { performance } = require('node:perf_hooks');
const { setTimeout: sleep } = require('node:timers/promises');

const { percentileOf } = require('./numbers');

function tally(expected) {
  const outcome = { mismatches: 0, errors: 0, firstProblem: null };
  return {
    outcome,
    check(line) {
      if (line === expected) return;
      outcome.mismatches += 1;
      outcome.firstProblem ??= `unexpected line: ${String(line).slice(0, 200)}`;
    },
    fail(error) {
      outcome.errors += 1;
      outcome.firstProblem ??= `rejected: ${error.message}`;
    },
  };
}

async function timedCall(call, counter) {
  const started = performance.now();
  try {
    counter.check(await call());
  } catch (error) {
    counter.fail(error);
  }
  return performance.now() - started;
}

async function sequential(call, counter, { calls }) {
  const latencies = [];
  for (let index = 0; index < calls; index += 1) latencies.push(await timedCall(call, counter));
  return latencies;
}

async function closedLoop(call, counter, { concurrency, durationMs }) {
  const latencies = [];
  const deadline = performance.now() + durationMs;
  const loop = async () => {
    while (performance.now() < deadline) latencies.push(await timedCall(call, counter));
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return latencies;
}

// Open loop: call i starts at i × interval whatever the earlier calls are doing. The first
// `leadingCalls` wake the path up after a pause (other paths ran meanwhile) and are not timed.
async function sporadic(call, counter, { calls, intervalMs, leadingCalls = 0 }) {
  const started = performance.now();
  const pending = [];
  for (let index = 0; index < leadingCalls + calls; index += 1) {
    const wait = started + index * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    if (index < leadingCalls) call().catch(() => {});
    else pending.push(timedCall(call, counter));
  }
  return Promise.all(pending);
}

const SHAPES = { sequential, closed: closedLoop, sporadic };

/** Runs one phase on `instance` and summarises it; `phase.keepSamples` returns the latencies. */
async function runPhase(instance, expected, phase) {
  const counter = tally(expected);
  const helperCpuBefore = instance.helperCpuMicros ? instance.helperCpuMicros() : 0;
  const connectionsBefore = instance.connectionsOpened ? instance.connectionsOpened() : null;
  const usageBefore = process.resourceUsage();
  const started = performance.now();
  const latencies = await SHAPES[phase.shape](instance.call, counter, phase);
  const elapsedMs = performance.now() - started;
  const usage = process.resourceUsage();
  const cpuMicros = usage.userCPUTime + usage.systemCPUTime - usageBefore.userCPUTime - usageBefore.systemCPUTime;
  // Every thread of the process: a call that hops between threads pays in switches.
  const switches = usage.voluntaryContextSwitches + usage.involuntaryContextSwitches
    - usageBefore.voluntaryContextSwitches - usageBefore.involuntaryContextSwitches;
  const helperCpu = instance.helperCpuMicros ? instance.helperCpuMicros() - helperCpuBefore : 0;
  return {
    calls: latencies.length,
    elapsedMs,
    throughput: latencies.length / (elapsedMs / 1000),
    p50Ms: percentileOf(latencies, 0.5),
    p99Ms: percentileOf(latencies, 0.99),
    cpuMicrosPerCall: (cpuMicros + helperCpu) / latencies.length,
    contextSwitchesPerCall: switches / latencies.length,
    helperCpuMicrosPerCall: helperCpu / latencies.length,
    clientConnectionsOpened: connectionsBefore === null ? null : instance.connectionsOpened() - connectionsBefore,
    ...counter.outcome,
    samples: phase.keepSamples ? latencies : undefined,
  };
}

module.exports = { runPhase };
