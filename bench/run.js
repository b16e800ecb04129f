'use strict';

// `npm run bench`: every compared path against one local upstream (its own process), each path
// in its own driver process, phases alternating between paths round after round. Prints the
// tables (ratios against the native path) and writes bench/results/latest.{md,json,svg}.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { buildCases } = require('./lib/cases');
const { measureLettaCalls, renderLettaCalls } = require('./letta-calls');
const { renderChart } = require('./lib/chart');
const { renderMarkdown, renderText } = require('./lib/report');
const { makeCertificates, removeCertificates } = require('./lib/certificates');
const { cpuPlan } = require('./lib/affinity');
const { measureColdStarts } = require('./lib/cold-starts');
const { startDrivers } = require('./lib/drivers');
const { rotate } = require('./lib/numbers');
const { readSettings } = require('./lib/settings');
const { runSoaks } = require('./lib/soak');
const { summarise } = require('./lib/summary');
const { startUpstream } = require('./lib/upstream-process');
const { PATHS, pathModule } = require('./paths');

const PACKAGE_ROOT = path.join(__dirname, '..');
const WARMUP_PHASE_MS = 300;
// Untimed calls that start each sporadic burst: the first call after a pause pays for it.
const SPORADIC_LEADING_CALLS = 2;

const log = (message) => process.stderr.write(`[bench] ${message}\n`);
const keyOf = (benchCase, lane) => `${benchCase.id}/${lane.mode}`;

function builtAddon() {
  const binary = fs.readdirSync(PACKAGE_ROOT).find((name) => name.endsWith('.node'));
  if (!binary || !fs.existsSync(path.join(PACKAGE_ROOT, 'index.js'))) return null;
  const { size, mtime } = fs.statSync(path.join(PACKAGE_ROOT, binary));
  return { file: binary, bytes: size, built: mtime.toISOString() };
}

function pythonVersion() {
  try {
    return execFileSync('python3', ['-c', 'import http.server, http.client, urllib.request, platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** Drops what cannot run here, saying why: no python3, no openssl. */
function runnableCases(settings, { python, certificates }, skipped) {
  if (!python) skipped.push({ what: 'spawn and worker paths', reason: 'python3 with its standard library is not available' });
  return buildCases(settings)
    .filter((benchCase) => {
      if (benchCase.scheme !== 'https' || certificates) return true;
      skipped.push({ what: `case ${benchCase.id}`, reason: 'openssl could not make the bench CA' });
      return false;
    })
    .map((benchCase) => ({ ...benchCase, lanes: benchCase.lanes.filter((lane) => python || !PATHS[lane.path].python) }));
}

function targetFor(benchCase, lane, upstream, certificates) {
  return {
    scheme: benchCase.scheme,
    mode: lane.mode,
    caFile: benchCase.scheme === 'https' ? certificates.caFile : undefined,
    ...upstream.urls(benchCase.scheme, benchCase.attachments),
  };
}

async function setUpTargets(cases, drivers, upstream, certificates) {
  const workerUrls = {};
  for (const benchCase of cases) {
    for (const lane of benchCase.lanes) {
      const target = targetFor(benchCase, lane, upstream, certificates);
      const { workerUrl } = await drivers[lane.path].call('setup', { key: keyOf(benchCase, lane), target });
      if (workerUrl) workerUrls[`${benchCase.id}/${lane.id}`] = workerUrl;
    }
  }
  return workerUrls;
}

/**
 * One call per lane with the upstream recording: every lane must send the same attach body as
 * the case's first (native) lane and resolve to the same line. A lane that differs is dropped.
 */
async function verifyLanes(cases, drivers, upstream, skipped) {
  const expected = {};
  for (const benchCase of cases) {
    let reference = null;
    const kept = [];
    for (const lane of benchCase.lanes) {
      await upstream.call('record');
      const line = await drivers[lane.path].call('verify', { key: keyOf(benchCase, lane) });
      const attach = (await upstream.call('recorded')).find((request) => request.method === 'POST');
      const observed = { line, attachBody: attach ? attach.body : null };
      reference ??= observed;
      const sameBody = observed.attachBody === reference.attachBody;
      // A raw POST returns the upstream's body as is; only its request can be compared.
      const sameLine = lane.mode === 'raw' || PATHS[lane.path].forwardsRaw || observed.line === reference.line;
      if (sameBody && sameLine) {
        kept.push(lane);
        expected[`${benchCase.id}/${lane.id}`] = line;
        continue;
      }
      const what = sameLine ? `attach body ${observed.attachBody}` : `line ${line.slice(0, 300)}`;
      skipped.push({ what: `${benchCase.id}: ${lane.id}`, reason: `differs from ${benchCase.lanes[0].id}: ${what}` });
      log(`MISMATCH ${benchCase.id} ${lane.id}: ${what}\n  expected line ${reference.line.slice(0, 300)}\n  expected body ${reference.attachBody}`);
    }
    benchCase.lanes = kept;
  }
  return expected;
}

function phaseForLane(phase, lane, settings) {
  if (!pathModule(lane.path).sequentialOnly) return phase;
  return phase.shape === 'sequential' ? { ...phase, calls: settings.spawnCalls } : null;
}

/** Untimed calls first (JIT, pools, caches); the connections they open still count. */
async function warmUp(cases, drivers, upstream, settings, measurements) {
  for (const benchCase of cases) {
    for (const lane of benchCase.lanes) {
      const phases = pathModule(lane.path).sequentialOnly
        ? [{ shape: 'sequential', calls: 1 }]
        : [{ shape: 'sequential', calls: settings.warmupCalls }, { shape: 'closed', concurrency: 64, durationMs: WARMUP_PHASE_MS }];
      const before = await upstream.acceptedByServer();
      for (const phase of phases) await drivers[lane.path].call('measure', { key: keyOf(benchCase, lane), phase });
      recordResult(measurements, benchCase, lane, 'warmup', connectionDelta(before, await upstream.acceptedByServer()));
    }
  }
}

function recordResult(measurements, benchCase, lane, phaseId, result) {
  const laneResults = ((measurements[benchCase.id] ??= {})[lane.id] ??= {});
  (laneResults[phaseId] ??= []).push(result);
}

function connectionDelta(before, after) {
  const perServer = Object.keys(after).map((name) => after[name] - (before[name] || 0));
  return { connections: perServer.reduce((sum, count) => sum + count, 0), connectionsPerOrigin: Math.max(0, ...perServer) };
}

function describePhase(result) {
  const rate = `${Math.round(result.throughput).toLocaleString('en-US')} calls/s`;
  return `${rate}, p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms, ${result.connections} conn${result.mismatches + result.errors ? `, ${result.mismatches + result.errors} BAD` : ''}`;
}

async function runRounds(cases, drivers, upstream, settings, measurements) {
  for (let round = 0; round < settings.rounds; round += 1) {
    for (const benchCase of cases) {
      for (const phase of benchCase.phases) {
        // A p99 is mostly made of whatever else the machine was doing, so the sporadic phase
        // alternates paths in short bursts: a busy second of the machine hits them all.
        const bursts = phase.shape === 'sporadic' ? Math.max(1, Math.ceil(phase.calls / settings.sporadicBurstCalls)) : 1;
        const burstPhase = bursts > 1 ? { ...phase, calls: Math.ceil(phase.calls / bursts), leadingCalls: SPORADIC_LEADING_CALLS } : phase;
        for (let burst = 0; burst < bursts; burst += 1) {
          for (const lane of rotate(benchCase.lanes, round + burst)) {
            const lanePhase = phaseForLane(burstPhase, lane, settings);
            if (!lanePhase) continue;
            const before = await upstream.acceptedByServer();
            const result = await drivers[lane.path].call('measure', { key: keyOf(benchCase, lane), phase: lanePhase });
            Object.assign(result, connectionDelta(before, await upstream.acceptedByServer()));
            recordResult(measurements, benchCase, lane, phase.id, result);
            if (bursts === 1) log(`round ${round + 1}/${settings.rounds} ${benchCase.id} ${phase.id} ${lane.id}: ${describePhase(result)}`);
          }
        }
      }
    }
  }
}

async function memoryByPath(drivers) {
  const memory = {};
  for (const [name, driver] of Object.entries(drivers)) memory[name] = await driver.call('memory');
  return memory;
}

function coldLanes(cases, expected, upstream, certificates, workerUrls) {
  const main = cases.find((benchCase) => benchCase.id === 'main');
  if (!main) return [];
  return main.lanes.map((lane) => ({
    id: lane.id,
    path: lane.path,
    expected: expected[`main/${lane.id}`],
    target: { ...targetFor(main, lane, upstream, certificates), workerUrl: workerUrls[`main/${lane.id}`] },
  }));
}

function machine(loadBefore) {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0] && os.cpus()[0].model,
    node: process.version,
    python: pythonVersion(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageBefore: loadBefore,
    loadAverageAfter: os.loadavg(),
  };
}

function writeResults(settings, summary) {
  fs.mkdirSync(settings.resultsDir, { recursive: true });
  const write = (name, text) => {
    // Written whole, then renamed: a reader never sees half a file.
    const file = path.join(settings.resultsDir, name);
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
    log(`wrote ${path.relative(PACKAGE_ROOT, file)}`);
  };
  write('latest.json', `${JSON.stringify(summary, null, 2)}\n`);
  write('latest.svg', renderChart(summary));
  write('latest.md', renderMarkdown(summary));
}

async function main() {
  const settings = readSettings();
  const addon = builtAddon();
  if (!addon) {
    log('no built addon (*.node and index.js) at the package root: run `npm run build` first');
    process.exitCode = 1;
    return;
  }
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const skipped = [];
  let certificates = null;
  try {
    certificates = makeCertificates();
  } catch (error) {
    log(`no TLS case: ${error.message}`);
  }
  const cases = runnableCases(settings, { python: pythonVersion() !== null, certificates }, skipped);
  for (const { what, reason } of skipped) log(`skipped ${what}: ${reason}`);
  const cpus = cpuPlan(settings.pin);
  log(cpus ? `pinned: upstream on CPU ${cpus.upstream}, clients on CPU ${cpus.clients}` : 'not pinned: the scheduler places every process');
  const clientCpus = cpus && cpus.clients;
  const upstream = await startUpstream({ certificates, cpus: cpus && cpus.upstream });
  const pathNames = [...new Set(cases.flatMap((benchCase) => benchCase.lanes.map((lane) => lane.path)))];
  const drivers = await startDrivers(pathNames, { caFile: certificates && certificates.caFile, cpus: clientCpus });
  let collected;
  try {
    const workerUrls = await setUpTargets(cases, drivers, upstream, certificates);
    const memoryBefore = await memoryByPath(drivers);
    const expected = await verifyLanes(cases, drivers, upstream, skipped);
    log('verified: every remaining lane sends the same attach body and returns the same line');
    const measurements = {};
    await warmUp(cases, drivers, upstream, settings, measurements);
    const cold = settings.coldRuns
      ? await measureColdStarts(coldLanes(cases, expected, upstream, certificates, workerUrls), { runs: settings.coldRuns, caFile: certificates && certificates.caFile, cpus: clientCpus }, log)
      : {};
    await runRounds(cases, drivers, upstream, settings, measurements);
    const memoryAfter = await memoryByPath(drivers);
    for (const driver of Object.values(drivers)) await driver.call('close');
    const soaks = settings.soakCalls ? await runSoaks(upstream, settings, clientCpus, log) : [];
    collected = { cases, measurements, cold, memoryBefore, memoryAfter, soaks, cpus };
  } finally {
    await Promise.all(Object.values(drivers).map((driver) => driver.stop()));
    await upstream.stop();
    removeCertificates(certificates);
  }
  // A process per call: measured apart, on an upstream of its own, after the long-lived lanes.
  const lettaCalls = settings.lettaRounds ? await measureLettaCalls(settings) : null;
  const summary = summarise({
    ...collected,
    lettaCalls,
    settings,
    skipped,
    addon,
    machine: machine(loadBefore),
    startedAt: startedAt.toISOString(),
    durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
  });
  writeResults(settings, summary);
  process.stdout.write(renderText(summary));
  if (lettaCalls) process.stdout.write(`\n${renderLettaCalls(lettaCalls)}`);
}

main().catch((error) => {
  log(`failed: ${error.stack}`);
  process.exitCode = 1;
});
