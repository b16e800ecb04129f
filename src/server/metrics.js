'use strict';

// Prometheus metrics for GET /metrics. Calls, errors and latency are measured here, around each
// tool call, so they mean the same for every backend; pool and cache counters are the native
// client's own (0 for the other backends).

const promClient = require('prom-client');

const PREFIX = 'letta_find_tools_';
const DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * backend: from backends.js; inFlight: an InFlight; sessionCount: () => open MCP sessions.
 * record(outcome, seconds) counts one answered call; outcome is one of
 * 'success', 'error', 'timeout' (an error too) or 'cancelled' (the client gave up; not an error).
 */
function createMetrics({ backend, inFlight, sessionCount }) {
  const registry = new promClient.Registry();
  const registers = [registry];

  const backendInfo = new promClient.Gauge({
    name: `${PREFIX}backend_info`,
    help: 'The backend that answers find_tools (value 1, name in the label)',
    labelNames: ['backend'],
    registers,
  });
  backendInfo.set({ backend: backend.name }, 1);

  const calls = new promClient.Counter({ name: `${PREFIX}calls_total`, help: 'find_tools calls answered', registers });
  const errors = new promClient.Counter({
    name: `${PREFIX}errors_total`,
    help: 'find_tools calls answered with an error (agent id errors and timeouts included)',
    registers,
  });
  const timeouts = new promClient.Counter({
    name: `${PREFIX}timeouts_total`,
    help: 'find_tools calls answered with a timeout',
    registers,
  });
  const duration = new promClient.Histogram({
    name: `${PREFIX}call_duration_seconds`,
    help: 'Time to answer a find_tools call',
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
  new promClient.Gauge({
    name: `${PREFIX}mcp_sessions`,
    help: 'Open MCP sessions (Streamable HTTP)',
    registers,
    collect() {
      this.set(sessionCount());
    },
  });

  // The client keeps these totals; a scrape copies them.
  const clientTotal = (name, help, statName) =>
    new promClient.Counter({
      name: `${PREFIX}${name}`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(backend.stats()?.[statName] ?? 0);
      },
    });
  clientTotal('upstream_connections_opened_total', 'TCP connections the native client opened upstream', 'connectionsOpened');
  clientTotal('lookup_cache_hits_total', 'Calls that found the find_tools id in the lookup cache', 'lookupCacheHits');
  clientTotal('lookup_cache_misses_total', 'Calls that ran a find_tools id lookup', 'lookupCacheMisses');

  return {
    contentType: registry.contentType,
    text: () => registry.metrics(),
    record(outcome, seconds) {
      calls.inc();
      if (outcome === 'error' || outcome === 'timeout') errors.inc();
      if (outcome === 'timeout') timeouts.inc();
      duration.observe(seconds);
    },
  };
}

module.exports = { createMetrics };
