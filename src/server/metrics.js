'use strict';

// Prometheus metrics for GET /metrics. Each fact has one owner: the backend's stats() counts
// the calls it answered, its errors and timeouts (the native client's own counters, or the JS
// tally of the other backends); this module counts only what only the server sees: calls
// refused before any backend (agent id errors, a backend that threw), the time to answer a
// call through the server, and the calls in flight. prom-client is loaded only by createMetrics:
// over stdio nothing serves /metrics, and a server spawned per call pays for every module it loads.

const PREFIX = 'letta_find_tools_';
const DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** backend: from backends.js; inFlight: an InFlight. */
function createMetrics({ backend, inFlight }) {
  const promClient = require('prom-client');
  const registry = new promClient.Registry();
  const registers = [registry];
  let refusedCalls = 0;

  const backendInfo = new promClient.Gauge({
    name: `${PREFIX}backend_info`,
    help: 'The backend that answers find_tools (value 1, name in the label)',
    labelNames: ['backend'],
    registers,
  });
  backendInfo.set({ backend: backend.name }, 1);

  // A scrape copies a total the backend keeps, plus the calls refused before it when they count,
  // all from one stats() snapshot taken as the scrape starts (one read, and totals that agree).
  let snapshot;
  const total = (name, help, read) =>
    new promClient.Counter({
      name: `${PREFIX}${name}`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read(snapshot));
      },
    });
  total('calls_total', 'find_tools calls (agent id refusals included)', (stats) => stats.calls + refusedCalls);
  total('errors_total', 'find_tools calls answered with an error (agent id errors and timeouts included)', (stats) => stats.errors + refusedCalls);
  total('timeouts_total', 'find_tools calls answered with a timeout', (stats) => stats.timeouts);
  total('upstream_connections_opened_total', 'TCP connections the native client opened upstream', (stats) => stats.connectionsOpened ?? 0);
  total('lookup_cache_hits_total', 'Calls that found the find_tools id in the lookup cache', (stats) => stats.lookupCacheHits ?? 0);
  total('lookup_cache_misses_total', 'Calls that ran a find_tools id lookup', (stats) => stats.lookupCacheMisses ?? 0);

  const duration = new promClient.Histogram({
    name: `${PREFIX}call_duration_seconds`,
    help: 'Time to answer a find_tools call through the server',
    buckets: DURATION_BUCKETS_SECONDS,
    registers,
  });
  new promClient.Gauge({
    name: `${PREFIX}calls_in_flight`,
    help: 'find_tools calls being answered',
    registers,
    collect() {
      this.set(inFlight.size);
    },
  });

  return {
    contentType: registry.contentType,
    text: () => {
      snapshot = backend.stats();
      return registry.metrics();
    },
    /** A call answered without the backend's answer. */
    refused() {
      refusedCalls += 1;
    },
    observe(seconds) {
      duration.observe(seconds);
    },
  };
}

/** What the calls count into where nothing serves /metrics (stdio): nothing. */
const UNCOUNTED = Object.freeze({ refused() {}, observe() {} });

module.exports = { createMetrics, UNCOUNTED };
