'use strict';

// Turns the rounds into one summary (what latest.json holds): per case, per lane, per phase.
// Latency percentiles of sequential and sporadic phases pool every round's samples (more
// samples, steadier p99); closed-loop phases keep the median of the rounds.

const { attachResponseBody } = require('./payloads');
const { median, percentileOf } = require('./numbers');
const { evaluateTargets } = require('./targets');
const { PATHS } = require('../paths');

const sum = (values) => values.reduce((total, value) => total + value, 0);

function summarisePhase(results) {
  const pooled = results.every((result) => result.samples) ? results.flatMap((result) => result.samples) : null;
  const medianOf = (field) => median(results.map((result) => result[field]));
  const throughputs = results.map((result) => result.throughput);
  const clientConnections = results.map((result) => result.clientConnectionsOpened);
  return {
    rounds: results.length,
    calls: sum(results.map((result) => result.calls)),
    throughput: medianOf('throughput'),
    throughputMin: Math.min(...throughputs),
    throughputMax: Math.max(...throughputs),
    p50Ms: pooled ? percentileOf(pooled, 0.5) : medianOf('p50Ms'),
    p99Ms: pooled ? percentileOf(pooled, 0.99) : medianOf('p99Ms'),
    // Steadier than a p99 of a few hundred calls on a shared VM whose stalls come and go.
    over1MsShare: pooled ? pooled.filter((latency) => latency > 1).length / pooled.length : null,
    cpuMicrosPerCall: medianOf('cpuMicrosPerCall'),
    helperCpuMicrosPerCall: medianOf('helperCpuMicrosPerCall'),
    contextSwitchesPerCall: medianOf('contextSwitchesPerCall'),
    connectionsMax: Math.max(...results.map((result) => result.connections)),
    connectionsPerOriginMax: Math.max(...results.map((result) => result.connectionsPerOrigin)),
    connectionsTotal: sum(results.map((result) => result.connections)),
    clientConnectionsOpened: clientConnections.includes(null) ? null : sum(clientConnections),
    mismatches: sum(results.map((result) => result.mismatches)),
    errors: sum(results.map((result) => result.errors)),
    firstProblem: results.map((result) => result.firstProblem).find(Boolean) || null,
    perRound: results.map(({ throughput, p50Ms, p99Ms }) => ({ throughput, p50Ms, p99Ms })),
  };
}

function summariseLane(lane, phaseResults, phaseIds) {
  const phases = {};
  for (const id of phaseIds) {
    if (phaseResults[id]) phases[id] = summarisePhase(phaseResults[id]);
  }
  const measured = Object.values(phases);
  // Connections opened while warming up count too: a pool's first burst is where it overshoots.
  const warmups = phaseResults.warmup || [];
  const connectionCounts = [...measured.map((phase) => phase.connectionsPerOriginMax), ...warmups.map((warmup) => warmup.connectionsPerOrigin)];
  // CPU per call under load where there is load; the spawn path only runs sequentially.
  const cpuPhase = phases.c64 || phases.sequential;
  return {
    id: lane.id,
    path: lane.path,
    mode: lane.mode,
    label: lane.label || PATHS[lane.path].label,
    phases,
    cpuMicrosPerCall: cpuPhase ? cpuPhase.cpuMicrosPerCall : null,
    cpuPhase: phases.c64 ? 'c64' : 'sequential',
    connectionsPerOriginMax: Math.max(0, ...connectionCounts),
    connectionsTotal: sum(measured.map((phase) => phase.connectionsTotal)) + sum(warmups.map((warmup) => warmup.connections)),
    problems: sum(measured.map((phase) => phase.mismatches + phase.errors)),
  };
}

function summariseCases(cases, measurements) {
  return cases.map((benchCase) => ({
    id: benchCase.id,
    title: benchCase.title,
    note: benchCase.note,
    group: benchCase.group,
    scheme: benchCase.scheme,
    attachments: benchCase.attachments,
    explain: benchCase.explain,
    serverMemory: benchCase.serverMemory,
    responseBytes: benchCase.attachments === undefined ? undefined : Buffer.byteLength(attachResponseBody(benchCase.attachments)),
    phases: benchCase.phases.map((phase) => phase.id),
    reference: benchCase.lanes[0] && benchCase.lanes[0].id,
    lanes: benchCase.lanes.map((lane) =>
      summariseLane(lane, (measurements[benchCase.id] || {})[lane.id] || {}, benchCase.phases.map((phase) => phase.id)),
    ),
  }));
}

function summariseMemory(memoryBefore, memoryAfter) {
  return Object.fromEntries(
    Object.keys(memoryBefore).map((name) => [
      name,
      {
        label: PATHS[name].label,
        rssBeforeBytes: memoryBefore[name].rssBytes,
        rssAfterBytes: memoryAfter[name].rssBytes,
        helperRssAfterBytes: memoryAfter[name].helperRssBytes,
      },
    ]),
  );
}

function summarise({ cases, measurements, cold, memoryBefore, memoryAfter, soaks, lettaCalls, cpus, settings, skipped, addon, machine, startedAt, durationSeconds }) {
  // Where the results go is no setting of the run: it stays out of the summary.
  const { resultsDir: _resultsDir, ...knobs } = settings;
  const summary = {
    startedAt,
    durationSeconds,
    machine,
    cpus,
    addon,
    settings: knobs,
    skipped,
    cases: summariseCases(cases, measurements),
    memory: summariseMemory(memoryBefore, memoryAfter),
    cold,
    soaks,
    lettaCalls,
  };
  summary.targets = evaluateTargets(summary);
  return summary;
}

module.exports = { summarise };
