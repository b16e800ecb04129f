'use strict';

// deploy/grafana-dashboard.json against the real server: every metric its PromQL queries (parsed
// with Prometheus' own grammar) is one that GET /metrics of a running server exports, and the
// dashboard covers what operators watch.

const fs = require('node:fs');
const path = require('node:path');
const { parser: promqlParser } = require('@prometheus-io/lezer-promql');
const { startSandbox } = require('../../sandbox/server.js');
const { startHttpServer, connectHttp } = require('../helpers/server');

const DASHBOARD = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'deploy', 'grafana-dashboard.json'), 'utf8'));

// What operators watch: each must be queried, so a renamed metric cannot silently empty a panel.
const WATCHED = [
  'letta_find_tools_backend_info',
  'letta_find_tools_calls_total',
  'letta_find_tools_errors_total',
  'letta_find_tools_timeouts_total',
  'letta_find_tools_calls_in_flight',
  'letta_find_tools_call_duration_seconds_bucket',
  'letta_find_tools_upstream_connections_opened_total',
  'letta_find_tools_lookup_cache_hits_total',
  'letta_find_tools_lookup_cache_misses_total',
];

function panelsOf(panels) {
  return panels.flatMap((panel) => [panel, ...panelsOf(panel.panels ?? [])]);
}

const LABEL_VALUES = /^label_values\((.+),\s*\w+\)$/;

/** Every PromQL expression the dashboard sends: panel targets, and the selectors of its variables. */
function dashboardQueries(dashboard) {
  const targets = panelsOf(dashboard.panels).flatMap((panel) => panel.targets ?? []).map((target) => target.expr);
  const variables = dashboard.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => LABEL_VALUES.exec(variable.query.query)[1]);
  return [...targets, ...variables];
}

// Grafana fills these in before Prometheus sees the query; any duration parses the same.
const withGrafanaMacros = (expr) => expr.replace(/\$__(rate_interval|interval|range)/g, '5m');

/** The metric names a PromQL expression selects; throws where Prometheus would not parse it. */
function metricNames(expr) {
  const text = withGrafanaMacros(expr);
  const names = [];
  let error = null;
  promqlParser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier) names.push(text.slice(identifier.from, identifier.to));
      }
    },
  });
  if (error !== null) throw new Error(`PromQL does not parse at ${error}: ${text}`);
  if (names.length === 0) throw new Error(`no metric selected: ${text}`);
  return names;
}

/** The sample names of a Prometheus text exposition (a histogram gives _bucket, _sum, _count). */
function exportedSampleNames(exposition) {
  return new Set(
    exposition
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)[0]),
  );
}

describe('deploy/grafana-dashboard.json', () => {
  let sandbox;
  let server;
  let exported;

  beforeAll(async () => {
    sandbox = await startSandbox();
    server = await startHttpServer({
      TOOLS_API_BASE_URL: sandbox.toolSelectorUrl,
      TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
      LETTA_API_URL: sandbox.lettaUrl,
    });
    // One call, so the scrape is of a server that has served, as Prometheus' would be.
    const client = await connectHttp(server.url);
    try {
      expect(JSON.parse(await client.call({ query: 'send an email', agent_id: 'agent-demo' })).status).toBe('success');
    } finally {
      await client.close();
    }
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    exported = exportedSampleNames(await response.text());
  });

  afterAll(async () => {
    await server?.stop();
    await sandbox?.close();
  });

  test('every query parses as PromQL', () => {
    for (const expr of dashboardQueries(DASHBOARD)) expect(() => metricNames(expr)).not.toThrow();
  });

  test('every metric the dashboard queries is one the server exports', () => {
    const queried = new Set(dashboardQueries(DASHBOARD).flatMap(metricNames));
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  });

  test('the dashboard queries every metric operators watch', () => {
    const queried = new Set(dashboardQueries(DASHBOARD).flatMap(metricNames));
    expect(WATCHED.filter((name) => !queried.has(name))).toEqual([]);
  });

  test('latency quantiles come from the call_duration_seconds histogram buckets', () => {
    const quantiles = dashboardQueries(DASHBOARD).filter((expr) => expr.startsWith('histogram_quantile('));
    expect(quantiles.length).toBeGreaterThan(0);
    for (const expr of quantiles) {
      expect(metricNames(expr)).toEqual(['letta_find_tools_call_duration_seconds_bucket']);
      expect(expr).toMatch(/by \((\w+, )?le\)/);
    }
  });

  test('panels read the data source chosen in the dashboard, so it imports into any Grafana', () => {
    for (const panel of panelsOf(DASHBOARD.panels).filter((candidate) => candidate.type !== 'row')) {
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    expect(DASHBOARD.templating.list.find((variable) => variable.name === 'datasource')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
  });
});
