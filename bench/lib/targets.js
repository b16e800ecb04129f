'use strict';

// The performance targets of DESIGN.md, checked against one run's summary. Each ratio is
// spelled the way DESIGN.md states its target.

const { median } = require('./numbers');

const CONNECTION_LIMIT = 32;
const SOAK_GROWTH_LIMIT_BYTES = 20 * 1024 * 1024;
const COLD_LIMIT_MS = 10;

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

function ratioTarget({ measure, target, lanes: [numeratorLane, denominatorLane], phase, field, paired = true, meets, stretch }) {
  const ratio = ratioOf(numeratorLane, denominatorLane, phase, field, { paired });
  if (!ratio) return { measure, target, value: null, met: null };
  const spread = ratio.roundsMin === undefined ? undefined : `rounds ${ratio.roundsMin.toFixed(2)}–${ratio.roundsMax.toFixed(2)}×`;
  return { measure, target, value: ratio.value, met: meets(ratio.value), stretchMet: stretch ? stretch(ratio.value) : undefined, detail: spread };
}

function evaluateTargets(summary) {
  const lane = finder(summary);
  const native = lane('main', 'native/lookup');
  const nativeFixed = lane('attach', 'native/fixed-id');
  const rawPost = lane('attach', 'undici-cached/raw');
  const undiciCached = lane('main', 'undici-cached/lookup');
  const undiciLegacy = lane('main', 'undici-legacy/lookup');
  const spawn = lane('main', 'spawn/lookup');
  const worker = lane('main', 'worker/lookup');
  const serverLane = (path) => lane('server', `${path}/${path.endsWith('http') ? 'http' : 'stdio'}`);
  const nativeServer = { stdio: serverLane('server-native-stdio'), http: serverLane('server-native-http') };
  const floorServer = { stdio: serverLane('server-forwarding-stdio'), http: serverLane('server-forwarding-http') };
  const spawnServer = serverLane('server-spawn-stdio');
  const nativeLanes = summary.cases.flatMap((benchCase) =>
    benchCase.lanes.filter((item) => item.path.startsWith('native')).map((item) => ({ ...item, caseId: benchCase.id })),
  );
  const mostConnections = nativeLanes.reduce((most, item) => (most && most.connectionsPerOriginMax >= item.connectionsPerOriginMax ? most : item), null);
  const nativeSoak = summary.soaks.find((soak) => soak.path === 'native');
  const nativeCold = summary.cold['native/lookup'];
  const connectionsMax = mostConnections ? mostConnections.connectionsPerOriginMax : null;
  return [
    ratioTarget({
      measure: 'sequential p50, findTools (fixed id) ÷ raw undici POST',
      target: '≤ 1.0×',
      lanes: [nativeFixed, rawPost],
      phase: 'sequential',
      field: 'p50Ms',
      meets: (value) => value <= 1.0,
    }),
    ratioTarget({
      measure: 'throughput at 64 in flight, findTools ÷ undici port with our cache',
      target: '≥ 1.0× (stretch 1.2×)',
      lanes: [native, undiciCached],
      phase: 'c64',
      field: 'throughput',
      meets: (value) => value >= 1.0,
      stretch: (value) => value >= 1.2,
    }),
    ratioTarget({
      measure: 'p99 with a call every 5 ms, findTools ÷ undici port with our cache',
      target: '≤ 0.7×',
      lanes: [native, undiciCached],
      phase: 'sporadic',
      field: 'p99Ms',
      paired: false,
      meets: (value) => value <= 0.7,
    }),
    ratioTarget({
      measure: 'full find_tools work at 64 in flight, findTools ÷ legacy-faithful undici port (throughput)',
      target: '≥ 1.8×',
      lanes: [native, undiciLegacy],
      phase: 'c64',
      field: 'throughput',
      meets: (value) => value >= 1.8,
    }),
    ratioTarget({
      measure: 'full find_tools work, sequential p50, legacy-faithful undici port ÷ findTools',
      target: '≥ 1.8×',
      lanes: [undiciLegacy, native],
      phase: 'sequential',
      field: 'p50Ms',
      meets: (value) => value >= 1.8,
    }),
    ratioTarget({
      measure: 'sequential p50, spawned legacy-style script ÷ findTools',
      target: '≥ 1,000×',
      lanes: [spawn, native],
      phase: 'sequential',
      field: 'p50Ms',
      paired: false,
      meets: (value) => value >= 1000,
    }),
    ratioTarget({
      measure: 'sequential p50, worker hop ÷ findTools',
      target: '≥ 300×',
      lanes: [worker, native],
      phase: 'sequential',
      field: 'p50Ms',
      meets: (value) => value >= 300,
    }),
    ...['stdio', 'http'].map((transport) =>
      ratioTarget({
        measure: `tools/call sequential p50 through the server, ${transport}: native server ÷ forwarding SDK server`,
        target: '≤ 1.05× (goal 1.0×)',
        lanes: [nativeServer[transport], floorServer[transport]],
        phase: 'sequential',
        field: 'p50Ms',
        meets: (value) => value <= 1.05,
      }),
    ),
    ratioTarget({
      measure: 'tools/call throughput at 16 in flight over HTTP: native server ÷ forwarding SDK server',
      target: '≥ 1.0×',
      lanes: [nativeServer.http, floorServer.http],
      phase: 'c16',
      field: 'throughput',
      meets: (value) => value >= 1.0,
    }),
    ratioTarget({
      measure: 'tools/call sequential p50 over stdio: server rolled back to the script ÷ native server',
      target: '≥ 300×',
      lanes: [spawnServer, nativeServer.stdio],
      phase: 'sequential',
      field: 'p50Ms',
      paired: false,
      meets: (value) => value >= 300,
    }),
    {
      measure: 'upstream TCP connections a native client opened in one phase (warm-up included), per origin; limit 32',
      target: `≤ ${CONNECTION_LIMIT}`,
      value: connectionsMax,
      met: connectionsMax === null ? null : connectionsMax <= CONNECTION_LIMIT,
      detail: mostConnections ? `${mostConnections.caseId}, ${mostConnections.id}` : undefined,
    },
    {
      measure: `RSS growth over ${nativeSoak ? nativeSoak.calls.toLocaleString('en-US') : 'the soak\'s'} calls (native)`,
      target: '≤ 20 MB',
      value: nativeSoak ? nativeSoak.growthBytes : null,
      unit: 'bytes',
      met: nativeSoak ? nativeSoak.growthBytes <= SOAK_GROWTH_LIMIT_BYTES : null,
      detail: nativeSoak && nativeSoak.calls < 200_000 ? 'soak shorter than the 200k calls the target names' : undefined,
    },
    {
      measure: '`require` + first call, cold (native, median)',
      target: `≤ ${COLD_LIMIT_MS} ms`,
      value: nativeCold ? nativeCold.totalMs : null,
      unit: 'ms',
      met: nativeCold ? nativeCold.totalMs <= COLD_LIMIT_MS : null,
    },
  ];
}

module.exports = { evaluateTargets };
