'use strict';

// The latency chart (bench/results/latest.svg), drawn by hand: one panel per transport (http,
// https), x = how calls arrive (one every 5 ms, one at a time, 16/64/256 in flight), y = latency
// on a log scale. A line joins each path's p50; a thin whisker reaches its p99.

const WIDTH = 1120;
const HEIGHT = 560;
const PANEL_TOP = 100;
const PANEL_HEIGHT = 350;
const PANEL_GAP = 70;
const MARGIN_LEFT = 80;
const MARGIN_RIGHT = 20;

const COLUMNS = [
  { phase: 'sporadic', label: '1 call / 5 ms' },
  { phase: 'sequential', label: '1 in flight (seq.)' },
  { phase: 'c16', label: '16 in flight' },
  { phase: 'c64', label: '64 in flight' },
  { phase: 'c256', label: '256 in flight' },
];

const STYLES = {
  native: { color: '#c62828', width: 3.5 },
  'native-2w': { color: '#ad1457', width: 2 },
  'undici-cached': { color: '#1565c0', width: 2 },
  'undici-legacy': { color: '#1565c0', width: 2, dash: '7 4' },
  'fetch-cached': { color: '#ef6c00', width: 2 },
  'fetch-legacy': { color: '#ef6c00', width: 2, dash: '7 4' },
  spawn: { color: '#616161', width: 2 },
  worker: { color: '#6a1b9a', width: 2 },
};

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function formatTick(ms) {
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms} ms`;
  return `${ms / 1000} s`;
}

function latencyRange(panels) {
  const values = panels.flatMap((benchCase) =>
    benchCase.lanes.flatMap((lane) => COLUMNS.flatMap(({ phase }) => (lane.phases[phase] ? [lane.phases[phase].p50Ms, lane.phases[phase].p99Ms] : []))),
  ).filter((value) => value > 0);
  return {
    low: Math.floor(Math.log10(Math.min(...values))),
    high: Math.ceil(Math.log10(Math.max(...values))),
  };
}

function drawPanel(benchCase, { left, width, range }) {
  const y = (ms) => PANEL_TOP + PANEL_HEIGHT - ((Math.log10(ms) - range.low) / (range.high - range.low)) * PANEL_HEIGHT;
  const step = width / COLUMNS.length;
  const x = (index) => left + step * (index + 0.5);
  const parts = [
    `<text x="${left + width / 2}" y="${PANEL_TOP - 12}" text-anchor="middle" font-size="15" font-weight="bold">${benchCase.scheme === 'https' ? 'https (TLS)' : 'http'}: find_tools with an agent id</text>`,
    `<rect x="${left}" y="${PANEL_TOP}" width="${width}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`,
  ];
  for (let decade = range.low; decade <= range.high; decade += 1) {
    const ms = 10 ** decade;
    parts.push(`<line x1="${left}" x2="${left + width}" y1="${y(ms)}" y2="${y(ms)}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${left - 6}" y="${y(ms) + 4}" text-anchor="end" font-size="11">${formatTick(Number(ms.toPrecision(1)))}</text>`);
  }
  COLUMNS.forEach(({ label }, index) => {
    parts.push(`<text x="${x(index)}" y="${PANEL_TOP + PANEL_HEIGHT + 18}" text-anchor="middle" font-size="11">${escape(label)}</text>`);
  });
  const lanes = benchCase.lanes;
  lanes.forEach((lane, laneIndex) => {
    const style = STYLES[lane.path] || { color: '#000', width: 1.5 };
    // Lanes sit side by side within a column so their whiskers do not hide each other.
    const offset = (laneIndex - (lanes.length - 1) / 2) * Math.min(6, step / (lanes.length + 2));
    const points = COLUMNS.map(({ phase }, index) => ({ phase, index, result: lane.phases[phase] })).filter((point) => point.result);
    for (const { index, result } of points) {
      const px = x(index) + offset;
      parts.push(`<line x1="${px}" x2="${px}" y1="${y(result.p50Ms)}" y2="${y(result.p99Ms)}" stroke="${style.color}" stroke-width="1.2" opacity="0.7"/>`);
      parts.push(`<circle cx="${px}" cy="${y(result.p50Ms)}" r="${style.width > 3 ? 4 : 3}" fill="${style.color}"><title>${escape(`${lane.label}, ${COLUMNS[index].label}: p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms`)}</title></circle>`);
    }
    const path = points.map(({ index, result }, order) => `${order ? 'L' : 'M'}${(x(index) + offset).toFixed(1)},${y(result.p50Ms).toFixed(1)}`).join(' ');
    if (points.length === 1) {
      // A lone point (the spawn path runs sequentially only) is named where it stands.
      const [{ index, result }] = points;
      parts.push(`<text x="${x(index) + offset + 8}" y="${y(result.p50Ms) + 4}" font-size="11" fill="${style.color}">${escape(`${lane.label}: ${result.p50Ms.toFixed(0)} ms`)}</text>`);
    } else {
      parts.push(`<path d="${path}" fill="none" stroke="${style.color}" stroke-width="${style.width}"${style.dash ? ` stroke-dasharray="${style.dash}"` : ''}/>`);
    }
  });
  return parts.join('\n');
}

function drawLegend(lanes, top) {
  const perRow = 4;
  const columnWidth = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / perRow;
  return lanes
    .map((lane, index) => {
      const style = STYLES[lane.path] || { color: '#000', width: 1.5 };
      const left = MARGIN_LEFT + (index % perRow) * columnWidth;
      const y = top + Math.floor(index / perRow) * 20;
      return [
        `<line x1="${left}" x2="${left + 30}" y1="${y}" y2="${y}" stroke="${style.color}" stroke-width="${style.width}"${style.dash ? ` stroke-dasharray="${style.dash}"` : ''}/>`,
        `<text x="${left + 38}" y="${y + 4}" font-size="12">${escape(lane.label)}</text>`,
      ].join('');
    })
    .join('\n');
}

function renderChart(summary) {
  const panels = ['main', 'tls'].map((id) => summary.cases.find((benchCase) => benchCase.id === id)).filter((benchCase) => benchCase && benchCase.lanes.length);
  if (!panels.length) return `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25">no latency data in this run</text></svg>\n`;
  const range = latencyRange(panels);
  const width = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT - PANEL_GAP * (panels.length - 1)) / panels.length;
  const body = panels.map((benchCase, index) => drawPanel(benchCase, { left: MARGIN_LEFT + index * (width + PANEL_GAP), width, range }));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">find_tools latency by path and load (dot and line: p50; whisker: up to p99; log scale, lower is better)</text>`,
    `<text x="${WIDTH / 2}" y="48" text-anchor="middle" font-size="12" fill="#555">${escape(`${summary.startedAt.slice(0, 10)}, ${summary.machine.cpus} cores, Node ${summary.machine.node}; spawn runs sequentially only`)}</text>`,
    ...body,
    drawLegend(panels[0].lanes, PANEL_TOP + PANEL_HEIGHT + 50),
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { renderChart };
