'use strict';

// The project's performance targets, the table of BENCHMARKS.md ("Targets"), checked against one
// run's summary, each ratio spelled the way that table states it. Nothing else is a target here:
// the other comparisons the run makes are in its tables, not judged.

const { median } = require('./numbers');

const CONNECTION_LIMIT = 32;
// "No trend" as one soak can show it: RSS after the soak's calls within this much of its
// baseline after warm-up (allocator and JIT noise stay well under it; a per-call leak of a few
// bytes over 200,000 calls does not).
const SOAK_GROWTH_LIMIT_BYTES = 20 * 1024 * 1024;

function finder(summary) {
  return (caseId, laneId) => {
    const found = summary.cases.find((benchCase) => benchCase.id === caseId);
    return (found && found.lanes.find((lane) => lane.id === laneId)) || null;
  };
}

const phaseValue = (lane, phase, field) => (lane && lane.phases[phase] ? lane.phases[phase][field] : null);

/**
 * numerator ÷ denominator for `field` of `phase`. Paired: the median of the per-round ratios
 * (each round measures both lanes next to each other, so a slow moment of the machine hits
 * both). Pooled (sporadic p99, measured together anyway): the ratio of the pooled values.
 */
function ratioOf(numeratorLane, denominatorLane, phase, field, { paired }) {
  if (!paired) {
    const numerator = phaseValue(numeratorLane, phase, field);
    const denominator = phaseValue(denominatorLane, phase, field);
    return numerator && denominator ? { value: numerator / denominator } : null;
  }
  const numerators = phaseValue(numeratorLane, phase, 'perRound');
  const denominators = phaseValue(denominatorLane, phase, 'perRound');
  if (!numerators || !denominators) return null;
  const ratios = numerators
    .slice(0, denominators.length)
    .map((round, index) => round[field] / denominators[index][field])
    .filter(Number.isFinite);
  if (!ratios.length) return null;
  return { value: median(ratios), roundsMin: Math.min(...ratios), roundsMax: Math.max(...ratios) };
}

function ratioTarget({ measure, target, lanes: [numeratorLane, denominatorLane], phase, field, paired = true, meets }) {
  const ratio = ratioOf(numeratorLane, denominatorLane, phase, field, { paired });
  if (!ratio) return { measure, target, value: null, met: null };
  const spread = ratio.roundsMin === undefined ? undefined : `rounds ${ratio.roundsMin.toFixed(2)}–${ratio.roundsMax.toFixed(2)}×`;
  return { measure, target, value: ratio.value, met: meets(ratio.value), detail: spread };
}

function evaluateTargets(summary) {
  const lane = finder(summary);
  const native = lane('main', 'native/lookup');
  const nativeFixed = lane('attach', 'native/fixed-id');
  const rawPost = lane('attach', 'undici-cached/raw');
  const undiciCached = lane('main', 'undici-cached/lookup');
  const serverLane = (path) => lane('server', `${path}/${path.endsWith('http') ? 'http' : 'stdio'}`);
  const nativeServer = { stdio: serverLane('server-native-stdio'), http: serverLane('server-native-http') };
  const floorServer = { stdio: serverLane('server-forwarding-stdio'), http: serverLane('server-forwarding-http') };
  const spawnServer = serverLane('server-spawn-stdio');
  const nativeLanes = summary.cases.flatMap((benchCase) =>
    benchCase.lanes.filter((item) => item.path.startsWith('native')).map((item) => ({ ...item, caseId: benchCase.id })),
  );
  const mostConnections = nativeLanes.reduce((most, item) => (most && most.connectionsPerOriginMax >= item.connectionsPerOriginMax ? most : item), null);
  const connectionsMax = mostConnections ? mostConnections.connectionsPerOriginMax : null;
  return [
    ...lettaCallTargets(summary.lettaCalls),
    ...['stdio', 'http'].map((transport) =>
      ratioTarget({
        measure: `tools/call sequential p50 through a long-lived server, ${transport}: native server ÷ forwarding SDK server`,
        target: '≤ 1.05× (one shared core: ~1.1–1.2× accepted)',
        lanes: [nativeServer[transport], floorServer[transport]],
        phase: 'sequential',
        field: 'p50Ms',
        meets: (value) => value <= 1.05,
      }),
    ),
    ratioTarget({
      measure: 'tools/call sequential p50 over stdio, long-lived: server rolled back to the script ÷ native server',
      target: '≥ 300×',
      lanes: [spawnServer, nativeServer.stdio],
      phase: 'sequential',
      field: 'p50Ms',
      paired: false,
      meets: (value) => value >= 300,
    }),
    ratioTarget({
      measure: 'sequential p50, findTools (fixed id) ÷ raw undici POST',
      target: '≤ 1.1×',
      lanes: [nativeFixed, rawPost],
      phase: 'sequential',
      field: 'p50Ms',
      meets: (value) => value <= 1.1,
    }),
    ratioTarget({
      measure: 'throughput at 64 in flight, findTools ÷ undici port with our cache',
      target: '≥ 1.2×',
      lanes: [native, undiciCached],
      phase: 'c64',
      field: 'throughput',
      meets: (value) => value >= 1.2,
    }),
    {
      measure: 'upstream TCP connections a native client opened in one phase (warm-up included), per origin; limit 32',
      target: `≤ ${CONNECTION_LIMIT}`,
      value: connectionsMax,
      met: connectionsMax === null ? null : connectionsMax <= CONNECTION_LIMIT,
      detail: mostConnections ? `${mostConnections.caseId}, ${mostConnections.id}` : undefined,
    },
    ...['native', 'server-stdio', 'server-http'].map((path) => soakTarget(summary.soaks.find((soak) => soak.path === path), path)),
  ];
}

function soakTarget(soak, path) {
  return {
    measure: `RSS after warm-up over ${soak ? soak.calls.toLocaleString('en-US') : "the soak's"} calls (${path === 'native' ? 'findTools direct' : path})`,
    target: 'no trend (≤ 20 MB)',
    value: soak ? soak.growthBytes : null,
    unit: 'bytes',
    met: soak ? soak.growthBytes <= SOAK_GROWTH_LIMIT_BYTES : null,
    detail: soak && soak.calls < 200_000 ? 'soak shorter than the 200k calls the target names' : undefined,
  };
}

/** The rows of a call as Letta makes it (bench/letta-calls.js), when the run measured it. */
function lettaCallTargets(lettaCalls) {
  if (!lettaCalls) return [];
  const ratioOfLane = (lanes, id) => lanes.find((item) => item.id === id)?.ratio ?? null;
  const row = (measure, target, value, meets) => ({ measure, target, value, met: value === null ? null : meets(value) });
  return [
    ...lettaCalls.stdio.map((run) =>
      row(
        `a call as Letta makes it over stdio (spawn → initialize → tools/call → tools/list → exit), native server ÷ bare \`node -e ''\`, Node ${run.node}`,
        '≤ 2.5× (goal 1.5×)',
        ratioOfLane(run.lanes, 'native'),
        (value) => value <= 2.5,
      ),
    ),
    row(
      'HTTP, a new session per call (initialize, initialized, tools/call, tools/list): native server ÷ forwarding SDK server',
      '≤ 1.05×',
      ratioOfLane(lettaCalls.http, 'native'),
      (value) => value <= 1.05,
    ),
    ...lettaCalls.firstCalls
      .filter((first) => first.scheme === 'http' || first.scheme === 'https')
      .map((first) => ({
        measure: `the first call of a fresh process − a warm call making the same requests, ${first.scheme} (ms)`,
        target: 'measured',
        value: first.extraMs,
        unit: 'ms',
        met: null,
      })),
  ];
}

module.exports = { evaluateTargets };
