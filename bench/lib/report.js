'use strict';

// The summary as tables: aligned text for stdout, Markdown for bench/results/latest.md. Every
// cell after the path shows the value and, in parentheses, the value ÷ the native lane's value
// in the same case (the case's first lane): a latency of 3.00× is three times slower, a
// throughput of 0.80× is 20 % lower.

function formatMs(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

const formatCount = (value) => (value === null || value === undefined ? '–' : Math.round(value).toLocaleString('en-US'));
const formatMb = (bytes) => `${(bytes / 1048576).toFixed(1)}`;

function formatRatio(ratio) {
  if (!Number.isFinite(ratio)) return '';
  if (ratio >= 100) return `${Math.round(ratio).toLocaleString('en-US')}×`;
  return `${ratio.toFixed(ratio >= 10 ? 1 : 2)}×`;
}

function withRatio(text, value, referenceValue, isReference) {
  if (isReference || value === null || value === undefined || !referenceValue) return text;
  return `${text} (${formatRatio(value / referenceValue)})`;
}

const phaseField = (lane, phase, field) => (lane.phases[phase] ? lane.phases[phase][field] : null);

function metricColumn(header, value, format) {
  return { header, value, format };
}

function columnsFor(benchCase, summary, { withMemory }) {
  const columns = [];
  for (const phase of benchCase.phases) {
    if (phase === 'sequential') {
      columns.push(metricColumn('seq p50', (lane) => phaseField(lane, phase, 'p50Ms'), formatMs));
      columns.push(metricColumn('seq p99', (lane) => phaseField(lane, phase, 'p99Ms'), formatMs));
      // Sequential calls are a closed loop with one call in flight.
      columns.push(metricColumn('calls/s @1', (lane) => phaseField(lane, phase, 'throughput'), formatCount));
    } else if (phase === 'sporadic') {
      columns.push(metricColumn('p99, 1 call / 5 ms', (lane) => phaseField(lane, phase, 'p99Ms'), formatMs));
      columns.push({
        header: '> 1 ms',
        text: (lane) => {
          const share = phaseField(lane, phase, 'over1MsShare');
          return share === null ? '–' : `${(share * 100).toFixed(1)} %`;
        },
      });
    } else {
      columns.push(metricColumn(`calls/s @${phase.slice(1)}`, (lane) => phaseField(lane, phase, 'throughput'), formatCount));
    }
  }
  // Counts, not costs: a ratio of 32 to 16 connections says nothing, so none is shown.
  columns.push({ header: 'conns opened (max/phase/origin, Σ)', text: (lane) => `${lane.connectionsPerOriginMax} (Σ ${lane.connectionsTotal})` });
  columns.push(metricColumn('CPU/call', (lane) => (lane.cpuMicrosPerCall === null ? null : lane.cpuMicrosPerCall / 1000), formatMs));
  if (benchCase.explain) {
    columns.push({
      header: 'ctx switches/call (seq)',
      text: (lane) => {
        const switches = phaseField(lane, 'sequential', 'contextSwitchesPerCall');
        return switches === null ? '–' : switches.toFixed(1);
      },
    });
  }
  if (benchCase.serverMemory) {
    columns.push({
      header: 'server RSS after',
      text: (lane) => {
        const memory = summary.memory[lane.path];
        return memory && memory.helperRssAfterBytes ? `${formatMb(memory.helperRssAfterBytes)} MB` : '–';
      },
    });
  }
  if (withMemory) {
    columns.push({
      header: 'RSS MB before → after',
      text: (lane) => {
        const memory = summary.memory[lane.path];
        if (!memory) return '–';
        const helper = memory.helperRssAfterBytes ? ` (+${formatMb(memory.helperRssAfterBytes)} Python)` : '';
        return `${formatMb(memory.rssBeforeBytes)} → ${formatMb(memory.rssAfterBytes)}${helper}`;
      },
    });
    columns.push(metricColumn('cold require+call', (lane) => (summary.cold[lane.id] ? summary.cold[lane.id].totalMs : null), formatMs));
  }
  return columns;
}

/** { headers, rows } for one case; rows are arrays of cell strings. */
function caseTable(benchCase, summary, options = {}) {
  const columns = columnsFor(benchCase, summary, options);
  const reference = benchCase.lanes[0];
  const rows = benchCase.lanes.map((lane) => [
    `${lane.label}${lane.problems ? ' ⚠' : ''}`,
    ...columns.map((column) => {
      if (column.text) return column.text(lane);
      const value = column.value(lane);
      if (value === null || value === undefined) return '–';
      return withRatio(column.format(value, lane), value, column.value(reference), lane === reference);
    }),
  ]);
  return { headers: ['path', ...columns.map((column) => column.header)], rows };
}

function payloadTable(payloadCases) {
  const headers = ['answer size', 'native seq p50', 'undici seq p50', 'undici ÷ native', 'native calls/s @64', 'undici calls/s @64', 'native ÷ undici', 'conns opened, native / undici (max/phase)'];
  const rows = payloadCases.map((benchCase) => {
    const [native, undici] = benchCase.lanes;
    const value = (lane, phase, field) => (lane ? phaseField(lane, phase, field) : null);
    const nativeP50 = value(native, 'sequential', 'p50Ms');
    const undiciP50 = value(undici, 'sequential', 'p50Ms');
    const nativeRate = value(native, 'c64', 'throughput');
    const undiciRate = value(undici, 'c64', 'throughput');
    return [
      `${benchCase.attachments} tools, ${(benchCase.responseBytes / 1024).toFixed(1)} KB`,
      formatMs(nativeP50),
      formatMs(undiciP50),
      nativeP50 && undiciP50 ? formatRatio(undiciP50 / nativeP50) : '–',
      formatCount(nativeRate),
      formatCount(undiciRate),
      nativeRate && undiciRate ? formatRatio(nativeRate / undiciRate) : '–',
      `${native ? native.connectionsPerOriginMax : '–'} / ${undici ? undici.connectionsPerOriginMax : '–'}`,
    ];
  });
  return { headers, rows };
}

function targetRows(summary) {
  return summary.targets.map((target) => {
    let value = '–';
    if (target.value !== null && target.value !== undefined) {
      if (target.unit === 'bytes') value = `${formatMb(target.value)} MB`;
      else if (target.unit === 'ms') value = formatMs(target.value);
      else if (/×/.test(target.target)) value = formatRatio(target.value);
      else value = String(target.value);
    }
    let verdict = target.value === null || target.value === undefined ? 'not measured' : 'reported';
    if (target.met === true) verdict = 'met';
    if (target.met === false) verdict = 'MISSED';
    return [target.measure, target.target, value, verdict + (target.detail ? ` (${target.detail})` : '')];
  });
}

function soakRows(summary) {
  return summary.soaks.map((soak) => [
    soak.label,
    formatCount(soak.calls),
    `${formatMb(soak.baselineBytes)} → ${formatMb(soak.endBytes)}`,
    `${formatMb(soak.growthBytes)} MB`,
    `${formatMb(soak.peakBytes)} MB`,
    formatCount(soak.throughput),
    String(soak.upstreamConnections),
    String(soak.mismatches + soak.errors),
  ]);
}
const SOAK_HEADERS = ['path', 'calls (64 in flight)', 'RSS MB after warm-up → end', 'growth', 'peak', 'calls/s', 'upstream conns', 'bad results'];

function textTable({ headers, rows }) {
  const widths = headers.map((header, index) => Math.max(header.length, ...rows.map((row) => row[index].length)));
  const line = (cells) => cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]) : cell.padStart(widths[index]))).join('  ');
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable({ headers, rows }) {
  const escape = (cell) => cell.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(escape).join(' | ')} |`,
    `|${headers.map((_, index) => (index === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

function sections(summary) {
  const plainCases = summary.cases.filter((benchCase) => !benchCase.group);
  const payloadCases = summary.cases.filter((benchCase) => benchCase.group === 'payload');
  const result = plainCases.map((benchCase) => ({
    title: benchCase.title,
    note: benchCase.note,
    table: caseTable(benchCase, summary, { withMemory: benchCase.id === 'main' }),
  }));
  if (payloadCases.length) {
    result.push({
      title: 'cost by answer size (find_tools with an agent id, http)',
      note: 'The Tool Selector answer grows with the number of attached tools; both sides parse and re-spell it.',
      table: payloadTable(payloadCases),
    });
  }
  if (summary.soaks.length) result.push({ title: 'soak', table: { headers: SOAK_HEADERS, rows: soakRows(summary) } });
  result.push({ title: 'targets (BENCHMARKS.md)', table: { headers: ['measure', 'target', 'this run', 'verdict'], rows: targetRows(summary) } });
  return result;
}

function describeRun(summary) {
  const { machine, settings } = summary;
  const load = (values) => values.map((value) => value.toFixed(2)).join(' ');
  return [
    `${summary.startedAt}, ${Math.round(summary.durationSeconds)} s; ${machine.cpus} × ${machine.cpuModel}; Node ${machine.node}; Python ${machine.python || 'none'}; ${machine.platform}`,
    `load average before ${load(machine.loadAverageBefore)}, after ${load(machine.loadAverageAfter)}; addon ${summary.addon.file} built ${summary.addon.built}`,
    `${settings.rounds} alternating rounds; per round and path: ${settings.sequentialCalls} sequential calls (spawn: ${settings.spawnCalls}), ${settings.phaseMs} ms per in-flight level, ${settings.sporadicCalls} calls one every ${settings.sporadicIntervalMs} ms (in bursts of ${settings.sporadicBurstCalls})`,
    summary.cpus ? `pinned: upstream on CPU ${summary.cpus.upstream}, every client process on CPU ${summary.cpus.clients} (BENCH_PIN=0 to let the scheduler place them)` : 'not pinned: the scheduler placed every process',
  ];
}

function problemLines(summary) {
  const lines = summary.skipped.map(({ what, reason }) => `skipped ${what}: ${reason}`);
  for (const benchCase of summary.cases) {
    for (const lane of benchCase.lanes) {
      for (const [phase, result] of Object.entries(lane.phases)) {
        if (result.mismatches + result.errors) lines.push(`⚠ ${benchCase.id} ${lane.id} ${phase}: ${result.mismatches} unexpected lines, ${result.errors} rejections; first: ${result.firstProblem}`);
      }
    }
  }
  return lines;
}

function renderText(summary) {
  const parts = [...describeRun(summary), ''];
  for (const section of sections(summary)) parts.push(`== ${section.title}`, textTable(section.table), '');
  parts.push(...problemLines(summary));
  return `${parts.join('\n')}\n`;
}

function renderMarkdown(summary) {
  const parts = [
    '# Benchmark results (latest run)',
    '',
    'Written by `npm run bench` (see BENCHMARKS.md for the method). Values in parentheses: this path ÷ the native path in the same table.',
    '',
    ...describeRun(summary).map((line) => `- ${line}`),
    '',
    '![p50 and p99 latency by path and calls in flight](latest.svg)',
    '',
  ];
  for (const section of sections(summary)) {
    parts.push(`## ${section.title}`, '');
    if (section.note) parts.push(section.note, '');
    parts.push(markdownTable(section.table), '');
  }
  const problems = problemLines(summary);
  if (problems.length) parts.push('## notes', '', ...problems.map((line) => `- ${line}`), '');
  return parts.join('\n');
}

module.exports = { renderText, renderMarkdown };
