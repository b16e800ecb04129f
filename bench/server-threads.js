'use strict';

// `npm run bench:threads`: where the server's CPU goes per tools/call, thread by thread. The SDK
// v2 client in this process calls each server sequentially (BENCH_THREADS_TRANSPORT stdio or
// http, default stdio), rounds interleaved; every thread's CPU (user and system) and context
// switches per call are read from /proc. Servers: this package's (native client), the
// forwarding floor, and this package's with the runtime's threads moved to the upstream's core
// (what a server with a core of its own for them would see; not a configuration the bench
// compares, only a measure of what sharing one core costs). Linux only.

const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Client, StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');
const { StdioClientTransport } = require('@modelcontextprotocol/client/stdio');

const { cpuPlan, pin } = require('./lib/affinity');
const { cleanEnv } = require('./lib/drivers');
const { median } = require('./lib/numbers');
const { CALL_ARGS, FIND_TOOLS_ID } = require('./lib/payloads');
const { processThreads } = require('./lib/proc');
const { startHttpServer } = require('./lib/server-process');
const { startUpstream } = require('./lib/upstream-process');

const CALLS_PER_ROUND = Number(process.env.BENCH_THREADS_CALLS ?? 2000);
const ROUNDS = Number(process.env.BENCH_THREADS_ROUNDS ?? 6);
const WARM_UP_CALLS = 1000;
const TRANSPORT = process.env.BENCH_THREADS_TRANSPORT ?? 'stdio';
const PACKAGE_SERVER = path.join(__dirname, '..', 'src', 'index.js');
const FLOOR_SERVER = path.join(__dirname, 'children', 'forwarding-server.js');
// The runtime's threads are named after the package (tokio's thread_name, cut to 15 bytes).
const RUNTIME_THREAD = /^letta-find-tool/;
/** Per thread group ('js', 'runtime' or 'other'): CPU µs, user and system µs, switches. */
function threadTimes(pid) {
  const groups = {};
  for (const thread of processThreads(pid)) {
    const group = RUNTIME_THREAD.test(thread.name) ? 'runtime' : thread.name === 'node' ? 'js' : 'other';
    const totals = (groups[group] ??= { cpu: 0, user: 0, system: 0, switches: 0 });
    totals.cpu += thread.cpuMicros;
    totals.user += thread.userMicros;
    totals.system += thread.systemMicros;
    totals.switches += thread.switches;
  }
  return groups;
}

function moveRuntimeThreads(pid, cpuList) {
  for (const { tid, name } of processThreads(pid)) {
    if (RUNTIME_THREAD.test(name)) execFileSync('taskset', ['-p', '-c', cpuList, tid], { stdio: 'ignore' });
  }
}

async function startServer(entry, env) {
  const client = new Client({ name: 'bench-threads', version: '1.0.0' });
  if (TRANSPORT === 'http') {
    const { child, url } = await startHttpServer([entry], env);
    await client.connect(new StreamableHTTPClientTransport(url));
    return { client, pid: child.pid, stop: () => child.kill('SIGTERM') };
  }
  const transport = new StdioClientTransport({ command: process.execPath, args: [entry], env, stderr: 'ignore' });
  await client.connect(transport);
  return { client, pid: transport.pid, stop: () => {} };
}

async function main() {
  const cpus = cpuPlan(true);
  if (!cpus) throw new Error('needs taskset and at least 2 CPUs');
  const upstream = await startUpstream({ cpus: cpus.upstream });
  pin(process.pid, cpus.clients);
  const { toolSelectorUrl, lettaUrl } = upstream.urls('http');
  const env = cleanEnv({
    extra: { TOOLS_API_BASE_URL: toolSelectorUrl, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', LETTA_API_URL: lettaUrl, FIND_TOOLS_TOOL_ID: FIND_TOOLS_ID },
  });
  const servers = [
    { label: 'MCP server, native', entry: PACKAGE_SERVER },
    { label: 'forwarding floor', entry: FLOOR_SERVER },
    { label: 'MCP server, native, runtime threads on the upstream core', entry: PACKAGE_SERVER, runtimeCpus: cpus.upstream },
  ];
  for (const server of servers) {
    Object.assign(server, await startServer(server.entry, env), { rounds: [] });
    pin(server.pid, cpus.clients);
    if (server.runtimeCpus) moveRuntimeThreads(server.pid, server.runtimeCpus);
    server.call = async () => {
      const result = await server.client.callTool({ name: 'find_tools', arguments: CALL_ARGS });
      if (result.isError) throw new Error(result.content[0].text);
    };
    for (let index = 0; index < WARM_UP_CALLS; index += 1) await server.call();
  }
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const server of servers) {
      const before = threadTimes(server.pid);
      const clientBefore = process.cpuUsage();
      const latencies = [];
      for (let index = 0; index < CALLS_PER_ROUND; index += 1) {
        const started = process.hrtime.bigint();
        await server.call();
        latencies.push(Number(process.hrtime.bigint() - started) / 1000);
      }
      const client = process.cpuUsage(clientBefore);
      const after = threadTimes(server.pid);
      const perCall = {};
      for (const [group, totals] of Object.entries(after)) {
        perCall[group] = Object.fromEntries(Object.entries(totals).map(([key, value]) => [key, (value - (before[group]?.[key] ?? 0)) / CALLS_PER_ROUND]));
      }
      server.rounds.push({ p50: median(latencies), clientCpu: (client.user + client.system) / CALLS_PER_ROUND, perCall });
    }
  }
  const floorP50 = median(servers[1].rounds.map((round) => round.p50));
  process.stdout.write(`tools/call over ${TRANSPORT}, ${ROUNDS} rounds of ${CALLS_PER_ROUND} sequential calls; medians of the rounds, per call\n`);
  for (const server of servers) {
    const of = (read) => median(server.rounds.map(read)).toFixed(1);
    const p50 = median(server.rounds.map((round) => round.p50));
    const groups = ['js', 'runtime'].filter((group) => server.rounds[0].perCall[group]);
    const threads = groups
      .map((group) => {
        const read = (key) => of((round) => round.perCall[group]?.[key] ?? 0);
        return `${group} thread${group === 'runtime' ? 's' : ''} ${read('cpu')} µs (user ${read('user')}, system ${read('system')}), ${read('switches')} switches`;
      })
      .join('; ');
    process.stdout.write(`${server.label}: p50 ${p50.toFixed(0)} µs (${(p50 / floorP50).toFixed(2)}× the floor); ${threads}; client ${of((round) => round.clientCpu)} µs\n`);
    await server.client.close();
    server.stop();
  }
  upstream.child.kill();
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
