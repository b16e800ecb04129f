'use strict';

// A find_tools call as Letta makes it (`npm run bench:letta`, and a section of `npm run bench`):
// - stdio, a new server process per call, on this Node and on the pinned Node 22
//   (scripts/node-versions.js), NODE_EXTRA_CA_CERTS unset: spawn → tools/call answer → exit,
//   against bare `node -e ''` on the same Node;
// - Streamable HTTP, a new connection and session per call, against the forwarding floor;
// - the first call of a fresh process against warm calls making the same requests, http and https.
// Lanes alternate round after round; medians and ratios from one run.

const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');

const { makeCertificates, removeCertificates } = require('./lib/certificates');
const { stdioCall, httpSessionCall } = require('./lib/letta-exchange');
const { median, rotate } = require('./lib/numbers');
const { CALL_ARGS, FIND_TOOLS_ID, BENCH_AGENT_ID } = require('./lib/payloads');
const { startHttpServer } = require('./lib/server-process');
const { readSettings } = require('./lib/settings');
const { startUpstream } = require('./lib/upstream-process');
const { pythonEnv } = require('./paths/python-env');

const ROOT = path.join(__dirname, '..');
const SERVER = path.join(ROOT, 'src', 'index.js');
const LEGACY_SCRIPT = path.join(__dirname, 'children', 'legacy_find_tools.py');
const CONSTANT_SERVER = path.join(__dirname, 'children', 'sdk-constant-server.js');
const FORWARDING_SERVER = path.join(__dirname, 'children', 'forwarding-server.js');
const FIRST_CALL = path.join(__dirname, 'children', 'first-call.js');
const SUCCESS = '{"status": "success"';

const log = (message) => process.stderr.write(`[bench:letta] ${message}\n`);

function nodeBinary(name) {
  if (name === 'current') return process.execPath;
  return execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'node-versions.js'), 'path', name], { encoding: 'utf8' }).trim();
}

// Every lane a success: a lane whose call fails is reported, never timed.
function stdioLanes(node, target) {
  const env = pythonEnv(target);
  const server = (id, label, extraEnv, script = SERVER, expect = SUCCESS) => ({
    id,
    label,
    run: () => stdioCall({ command: node, args: [script], env: { ...env, ...extraEnv }, callArgs: CALL_ARGS }),
    expect,
  });
  return [
    { id: 'bare', label: "bare `node -e ''`", run: () => stdioCall({ command: node, args: ['-e', ''], env, exchange: false }), bare: true },
    server('native', 'native server (lookup + attach)', {}),
    server('native-fixed-id', 'native server, FIND_TOOLS_TOOL_ID set (attach only)', { FIND_TOOLS_TOOL_ID: FIND_TOOLS_ID }),
    server('native-sdk', 'native server, MCP_STDIO_LEAN=false (the SDK serves)', { MCP_STDIO_LEAN: 'false' }),
    server('rollback', 'server rolled back to the legacy script', { FIND_TOOLS_BACKEND: 'legacy', FIND_TOOLS_LEGACY_SCRIPT: LEGACY_SCRIPT }),
    server('sdk-constant', 'minimal SDK v2 stdio server answering a constant', {}, CONSTANT_SERVER, 'constant'),
  ];
}

async function measureStdio(node, lanes, rounds) {
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  const samples = new Map(lanes.map((lane) => [lane, { answerMs: [], totalMs: [], failures: 0 }]));
  for (let round = 0; round < rounds; round += 1) {
    for (const lane of rotate(lanes, round)) {
      const result = await lane.run();
      const sample = samples.get(lane);
      if (!lane.bare && !result.text.startsWith(lane.expect)) {
        sample.failures += 1;
        log(`${version} ${lane.label}: not a success: ${result.text.slice(0, 200)}`);
        continue;
      }
      sample.answerMs.push(result.answerMs);
      sample.totalMs.push(result.totalMs);
    }
    log(`stdio ${version}: round ${round + 1}/${rounds}`);
  }
  const bare = samples.get(lanes[0]);
  return {
    node: version,
    lanes: lanes.map((lane) => {
      const sample = samples.get(lane);
      const totalMs = median(sample.totalMs);
      return { id: lane.id, label: lane.label, answerMs: median(sample.answerMs), totalMs, ratio: totalMs / median(bare.totalMs), calls: sample.totalMs.length, failures: sample.failures };
    }),
  };
}

// The command Letta is given: npx (npm's own start-up on every call), the installed bin (its
// shebang line, through /usr/bin/env), and node with the script's path, all on this Node.
function commandLanes(target) {
  const env = pythonEnv(target);
  const viaCommand = (id, label, command, args) => ({
    id,
    label,
    run: () => stdioCall({ command, args, env, callArgs: CALL_ARGS, cwd: ROOT }),
    expect: SUCCESS,
  });
  return [
    { id: 'bare', label: "bare `node -e ''`", run: () => stdioCall({ command: process.execPath, args: ['-e', ''], env, exchange: false }), bare: true },
    viaCommand('node', '`node src/index.js`', process.execPath, [SERVER]),
    viaCommand('bin', 'the bin (`src/index.js` run by its shebang)', SERVER, []),
    viaCommand('npx', '`npx letta-find-tools-mcp` (installed, offline)', 'npx', ['--offline', 'letta-find-tools-mcp']),
  ];
}

async function measureHttp(target, rounds) {
  // Both forward one POST per call: the native server is given the find_tools id.
  const env = { ...pythonEnv(target), FIND_TOOLS_TOOL_ID: FIND_TOOLS_ID };
  const servers = [
    { id: 'native', label: 'native server', ...(await startHttpServer([SERVER], env)) },
    { id: 'floor', label: 'forwarding floor (bench/children/forwarding-server.js)', ...(await startHttpServer([FORWARDING_SERVER], env)) },
  ];
  const samples = new Map(servers.map((server) => [server, { totalMs: [], requestMs: [[], [], [], []], failures: 0 }]));
  try {
    // One untimed session each: the servers' own first call (JIT, the upstream connection).
    for (const server of servers) await httpSessionCall({ url: server.url, agentId: BENCH_AGENT_ID, callArgs: CALL_ARGS });
    for (let round = 0; round < rounds; round += 1) {
      for (const server of rotate(servers, round)) {
        const result = await httpSessionCall({ url: server.url, agentId: BENCH_AGENT_ID, callArgs: CALL_ARGS });
        const sample = samples.get(server);
        // The floor answers the upstream's body as is, the native server its result line.
        if (!result.text.startsWith(SUCCESS) && !result.text.startsWith('{"success":')) {
          sample.failures += 1;
          continue;
        }
        sample.totalMs.push(result.totalMs);
        result.requestMs.forEach((ms, index) => sample.requestMs[index].push(ms));
      }
    }
  } finally {
    for (const server of servers) server.child.kill('SIGTERM');
  }
  const floor = samples.get(servers[1]);
  return servers.map((server) => {
    const sample = samples.get(server);
    return {
      id: server.id,
      label: server.label,
      totalMs: median(sample.totalMs),
      ratio: median(sample.totalMs) / median(floor.totalMs),
      requestMs: sample.requestMs.map(median),
      calls: sample.totalMs.length,
      failures: sample.failures,
    };
  });
}

function firstCall(target, caFile, toolId) {
  return new Promise((resolve, reject) => {
    const env = {
      PATH: process.env.PATH,
      BENCH_FIRST_CALL_TARGET: JSON.stringify(target),
      ...(caFile && { NODE_EXTRA_CA_CERTS: caFile }),
      ...(toolId && { BENCH_FIRST_CALL_TOOL_ID: toolId }),
    };
    const child = spawn(process.execPath, [FIRST_CALL], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`first-call.js exited ${code}`))));
  });
}

async function measureFirstCalls(upstream, certificates, rounds) {
  const schemes = [
    { scheme: 'http', target: upstream.urls('http'), caFile: undefined },
    { scheme: 'https', target: upstream.urls('https'), caFile: certificates.caFile },
    { scheme: 'http, FIND_TOOLS_TOOL_ID set', target: upstream.urls('http'), caFile: undefined, toolId: FIND_TOOLS_ID },
    { scheme: 'https, FIND_TOOLS_TOOL_ID set', target: upstream.urls('https'), caFile: certificates.caFile, toolId: FIND_TOOLS_ID },
  ];
  const samples = new Map(schemes.map((scheme) => [scheme, { firstMs: [], warmMs: [], connections: [] }]));
  for (let round = 0; round < rounds; round += 1) {
    for (const scheme of rotate(schemes, round)) {
      const result = await firstCall(scheme.target, scheme.caFile, scheme.toolId);
      const sample = samples.get(scheme);
      sample.firstMs.push(result.firstMs);
      sample.warmMs.push(median(result.warmMs));
      sample.connections.push(result.connectionsOpened);
    }
  }
  return schemes.map((scheme) => {
    const sample = samples.get(scheme);
    const firstMs = median(sample.firstMs);
    const warmMs = median(sample.warmMs);
    return { scheme: scheme.scheme, firstMs, warmMs, extraMs: firstMs - warmMs, connections: median(sample.connections) };
  });
}

const ms = (value) => (value === null ? 'n/a' : value.toFixed(1));

function stdioTable(title, run) {
  return [
    `### ${title}, Node ${run.node} (NODE_EXTRA_CA_CERTS unset)`,
    '',
    '| lane | to the answer (ms) | to the exit (ms) | × bare node | calls | failed |',
    '|---|---:|---:|---:|---:|---:|',
    ...run.lanes.map((lane) => `| ${lane.label} | ${ms(lane.answerMs)} | ${ms(lane.totalMs)} | ${lane.ratio.toFixed(2)} | ${lane.calls} | ${lane.failures} |`),
    '',
  ];
}

function renderLettaCalls({ rounds, stdio, commands, http, firstCalls }) {
  const out = [`## A find_tools call as Letta makes it (${rounds} alternating rounds, medians)`, ''];
  for (const run of stdio) out.push(...stdioTable('stdio, a new server process per call', run));
  out.push(...stdioTable('The command Letta runs', commands));
  out.push('### Streamable HTTP, a new connection and session per call (find_tools id configured)', '');
  out.push('| server | session (ms) | × floor | initialize | initialized | tools/call | tools/list | calls | failed |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const lane of http) {
    out.push(`| ${lane.label} | ${ms(lane.totalMs)} | ${lane.ratio.toFixed(3)} | ${lane.requestMs.map(ms).join(' | ')} | ${lane.calls} | ${lane.failures} |`);
  }
  out.push('', '### The first call of a fresh process vs warm calls making the same requests (native client, no lookup cache)', '');
  out.push('| upstream | first call (ms) | warm call (ms) | first − warm (ms) | connections opened |', '|---|---:|---:|---:|---:|');
  for (const lane of firstCalls) out.push(`| ${lane.scheme} | ${ms(lane.firstMs)} | ${ms(lane.warmMs)} | ${ms(lane.extraMs)} | ${lane.connections} |`);
  return `${out.join('\n')}\n`;
}

/**
 * Runs the section (settings.lettaRounds rounds on settings.lettaNodes); resolves to its numbers,
 * {rounds, stdio, commands, http, firstCalls}, which renderLettaCalls() writes as Markdown.
 */
async function measureLettaCalls({ lettaRounds: rounds, lettaNodes: nodes } = readSettings()) {
  const certificates = makeCertificates();
  const upstream = await startUpstream({ certificates });
  try {
    const target = upstream.urls('http');
    const stdio = [];
    for (const node of nodes) {
      const binary = nodeBinary(node);
      stdio.push(await measureStdio(binary, stdioLanes(binary, target), rounds));
    }
    log('commands');
    const commands = await measureStdio(process.execPath, commandLanes(target), rounds);
    log('http sessions');
    const http = await measureHttp(target, rounds);
    log('first calls');
    const firstCalls = await measureFirstCalls(upstream, certificates, rounds);
    return { rounds, stdio, commands, http, firstCalls };
  } finally {
    await upstream.stop();
    removeCertificates(certificates);
  }
}

module.exports = { measureLettaCalls, renderLettaCalls };

if (require.main === module) {
  measureLettaCalls().then(
    (lettaCalls) => process.stdout.write(renderLettaCalls(lettaCalls)),
    (error) => {
      log(`failed: ${error.stack}`);
      process.exitCode = 1;
    },
  );
}
