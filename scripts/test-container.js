#!/usr/bin/env node
'use strict';

// `npm run test:container`: the container image as an operator runs it. Builds the Dockerfile with
// docker or podman (whichever answers), checks what the image holds, runs it the way compose.yaml
// does (read-only root, no-new-privileges, no capabilities, an init process, the image's numeric
// user) on the host network against a sandbox upstream on 127.0.0.1, and talks to it only from
// outside: HTTP and the MCP SDK client, as a user would; then once more with a bearer token handed
// over as compose.auth.yaml does it. With no engine it prints one line and exits 0.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { Client, StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');
const { startSandbox } = require('../sandbox/server.js');
const { assert, runChecks, reportCounts } = require('./lib/checks.js');
const { freePort } = require('./lib/free-port');

const ROOT = path.join(__dirname, '..');
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const IMAGE = 'letta-find-tools-mcp:test';
const CONTAINER = `letta-find-tools-mcp-test-${process.pid}`;
const AUTH_CONTAINER = `${CONTAINER}-auth`;
// Where compose.auth.yaml's secret lands, and the variable that names it.
const AUTH_SECRET_PATH = '/run/secrets/mcp_auth_token';
const APP_DIR = '/app';
// compose.yaml's stop_grace_period: a server that needs longer is SIGKILLed and exits 137.
const STOP_TIMEOUT_SECONDS = 15;
const EXPECTED_USER = '1000:1000';

// Bounds on how long a broken engine or server can hang the test, not timing assertions.
const BUILD_TIMEOUT_MS = 30 * 60 * 1000;
const COMMAND_TIMEOUT_MS = 60 * 1000;
const READY_TIMEOUT_MS = 60 * 1000;
const POLL_INTERVAL_MS = 250;

// ---------------------------------------------------------------------------------------------
// Processes

/** Resolves to {code, stdout, stderr}; rejects only when the command cannot start or overruns. */
function run(command, args, { timeout = COMMAND_TIMEOUT_MS, echo = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took longer than ${timeout} ms`));
    }, timeout);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      if (echo) process.stderr.write(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      stderr += chunk;
      if (echo) process.stderr.write(chunk);
    });
    child.on('error', (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function succeed(command, args, options) {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const output = options?.echo ? '(its output is above)' : `${result.stderr}${result.stdout}`;
    throw new Error(`${command} ${args.join(' ')} exited with ${result.code}\n${output}`);
  }
  return result.stdout;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// The engine

/** The first of docker and podman that can run containers here, or null with why not. */
async function findEngine() {
  const reasons = [];
  for (const name of ['docker', 'podman']) {
    const answer = await run(name, ['info'], { timeout: COMMAND_TIMEOUT_MS }).catch((error) => ({ error }));
    if (answer.code === 0) return { name };
    reasons.push(answer.error?.code === 'ENOENT' ? `no ${name}` : `${name} does not answer`);
  }
  return { name: null, reason: reasons.join(', ') };
}

// podman writes OCI images unless told otherwise, and the OCI format has no HEALTHCHECK.
function buildArgs(engine) {
  const format = engine === 'podman' ? ['--format', 'docker'] : [];
  return ['build', ...format, '--network', 'host', '-t', IMAGE, ROOT];
}

// compose.yaml's service: init, read_only, no-new-privileges, cap_drop, stop_grace_period. podman's
// --read-only adds a writable /tmp that docker's and Kubernetes' read-only roots lack.
// `extra` adds run options before the image, such as the auth secret's mount.
function runArgs({ engine, sandbox }, { container, port, extra = [] }) {
  const readOnly = engine === 'podman' ? ['--read-only', '--read-only-tmpfs=false'] : ['--read-only'];
  return [
    'run', '--detach', '--name', container,
    '--init', ...readOnly, '--security-opt', 'no-new-privileges', '--cap-drop', 'ALL',
    '--stop-timeout', String(STOP_TIMEOUT_SECONDS),
    '--network', 'host',
    '--env', 'HOST=127.0.0.1',
    '--env', `PORT=${port}`,
    '--env', `TOOLS_API_BASE_URL=${sandbox.toolSelectorUrl}`,
    '--env', 'TOOLS_API_ALLOW_INSECURE_HTTP=true',
    '--env', `LETTA_API_URL=${sandbox.lettaUrl}`,
    ...extra,
    IMAGE,
  ];
}

async function inspectImage(engine) {
  const [image] = JSON.parse(await succeed(engine, ['image', 'inspect', IMAGE]));
  return image;
}

async function inspectContainer(engine, container) {
  const [inspected] = JSON.parse(await succeed(engine, ['container', 'inspect', container]));
  return inspected;
}

async function containerState(engine, container) {
  return (await inspectContainer(engine, container)).State;
}

async function containerLogs(engine, container) {
  const { stdout, stderr } = await run(engine, ['logs', container]).catch(() => ({ stdout: '', stderr: '' }));
  return `${stdout}${stderr}`.trim();
}

/** Runs a node one-liner inside the running container, as its user; resolves to {code, stdout, stderr}. */
function execNode(engine, script) {
  return run(engine, ['exec', CONTAINER, 'node', '-e', script]);
}

// docker runs health checks on its own schedule; podman's timers need systemd, so it runs one on demand.
async function runHealthcheck(engine) {
  if (engine === 'podman') {
    const { code, stdout, stderr } = await run(engine, ['healthcheck', 'run', CONTAINER]);
    return { healthy: code === 0, detail: `${stdout}${stderr}`.trim() };
  }
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let health;
  while (Date.now() < deadline) {
    ({ Health: health } = await containerState(engine, CONTAINER));
    if (health?.Status === 'healthy' || health?.Status === 'unhealthy') break;
    await sleep(POLL_INTERVAL_MS);
  }
  return { healthy: health?.Status === 'healthy', detail: JSON.stringify(health) };
}

// ---------------------------------------------------------------------------------------------
// The MCP client: the one place that knows the SDK's client API.

async function callFindTools(mcpUrl, args, headers = {}) {
  const client = new Client({ name: 'container-test', version: PACKAGE.version });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers } }));
  try {
    const result = await client.callTool({ name: 'find_tools', arguments: args });
    return result.content.map((item) => item.text).join('');
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The checks

async function checkBuild(context) {
  console.error(`# ${context.engine} ${buildArgs(context.engine).join(' ')}`);
  await succeed(context.engine, buildArgs(context.engine), { timeout: BUILD_TIMEOUT_MS, echo: true });
  context.image = await inspectImage(context.engine);
}

function requireImage({ image }) {
  assert(image, 'not run: the image did not build');
}

function checkImageConfig(context) {
  requireImage(context);
  const config = context.image.Config;
  assert(config.User === EXPECTED_USER, `USER is '${config.User}', expected the numeric ${EXPECTED_USER}`);
  // docker keeps it in Config, podman beside it.
  const healthcheck = config.Healthcheck ?? context.image.Healthcheck;
  assert(healthcheck?.Test?.[0] === 'CMD', `no HEALTHCHECK CMD in the image: ${JSON.stringify(healthcheck)}`);
  assert(healthcheck.Test.join(' ').includes('/health'), `the HEALTHCHECK does not ask /health: ${healthcheck.Test}`);
}

// The image holds what the server runs and nothing else: no Rust sources, build output or
// devDependencies; the server's JS wherever it lives under src/.
const RUNTIME_FILE = /^(package\.json|index\.js|load-binding\.js|binding\.js|letta-find-tools\.[a-z0-9-]+\.node|src\/([a-z0-9-]+\/)*[a-z0-9-]+\.js)$/;

async function checkImageContents(context) {
  requireImage(context);
  const listing = await succeed(context.engine, [
    'run', '--rm', '--entrypoint', 'find', IMAGE, APP_DIR, '-path', `${APP_DIR}/node_modules`, '-prune', '-o', '-type', 'f', '-print',
  ]);
  const files = listing.trim().split('\n').map((file) => path.posix.relative(APP_DIR, file));
  const foreign = files.filter((file) => !RUNTIME_FILE.test(file));
  assert(foreign.length === 0, `files the runtime does not need in ${APP_DIR}: ${foreign.join(', ')}`);
  for (const needed of ['package.json', 'index.js', 'load-binding.js', 'binding.js', 'src/index.js']) {
    assert(files.includes(needed), `${APP_DIR}/${needed} is missing`);
  }
  assert(files.some((file) => file.endsWith('.node')), `no native binary in ${APP_DIR}`);

  const devDependencies = Object.keys(PACKAGE.devDependencies);
  const present = await succeed(context.engine, [
    'run', '--rm', '--entrypoint', 'node', IMAGE, '-e',
    `process.stdout.write(JSON.stringify(process.argv.slice(1).filter((name) => require('fs').existsSync('${APP_DIR}/node_modules/' + name))))`,
    ...devDependencies,
  ]);
  const devOnly = JSON.parse(present);
  assert(devOnly.length === 0, `devDependencies in the image: ${devOnly.join(', ')}`);
}

/** Runs the image as `container` on `port` and resolves once /health answers 200 and "healthy". */
async function startContainer(context, { container, port, extra }) {
  // Listed first: a run that fails may still leave a container to remove.
  context.containers.push(container);
  await succeed(context.engine, runArgs(context, { container, port, extra }));
  const url = `http://127.0.0.1:${port}/health`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last;
  while (Date.now() < deadline) {
    const response = await fetch(url).catch((error) => error);
    if (response instanceof Response) {
      last = { status: response.status, body: await response.json() };
      if (response.ok) break;
    }
    const { Running: running } = await containerState(context.engine, container);
    assert(running, `the container stopped before answering /health:\n${await containerLogs(context.engine, container)}`);
    await sleep(POLL_INTERVAL_MS);
  }
  assert(last?.status === 200, `/health did not answer 200: ${JSON.stringify(last)}\n${await containerLogs(context.engine, container)}`);
  assert(last.body.status === 'healthy', `/health status is ${JSON.stringify(last.body.status)}, expected "healthy"`);
}

async function checkStartsAndAnswersHealth(context) {
  requireImage(context);
  context.port = await freePort();
  await startContainer(context, { container: CONTAINER, port: context.port });
  context.serving = true;
}

function requireServing({ serving }) {
  assert(serving, 'not run: the container is not serving');
}

async function checkRunsAsNumericNonRoot(context) {
  requireServing(context);
  const ids = await execNode(context.engine, 'process.stdout.write(`${process.getuid()}:${process.getgid()}`)');
  assert(ids.code === 0 && ids.stdout === EXPECTED_USER, `the server's user is ${ids.stdout || ids.stderr}, expected ${EXPECTED_USER}`);
  const write = await execNode(context.engine, `require('fs').writeFileSync('${APP_DIR}/written', '')`);
  assert(write.code !== 0 && /EROFS|EACCES/.test(write.stderr), `the root filesystem is writable: ${write.stderr}`);
}

async function checkHealthcheck(context) {
  requireServing(context);
  const { healthy, detail } = await runHealthcheck(context.engine);
  assert(healthy, `the HEALTHCHECK did not pass: ${detail}`);
}

const SEND_EMAIL = { query: 'send an email', agent_id: 'agent-demo', limit: 3 };

function assertAttachedSendEmail(text) {
  const answer = JSON.parse(text);
  assert(answer.status === 'success', `find_tools answered ${text}`);
  const attached = answer.details.successful_attachments.map((tool) => tool.name);
  assert(attached.includes('send_email'), `send_email was not attached: ${text}`);
}

const toolSelectorRequests = ({ sandbox }) => sandbox.requests.filter((request) => request.to === 'tool_selector').length;

async function checkFindTools(context) {
  requireServing(context);
  const before = toolSelectorRequests(context);
  assertAttachedSendEmail(await callFindTools(`http://127.0.0.1:${context.port}/mcp`, SEND_EMAIL));
  assert(toolSelectorRequests(context) > before, 'the sandbox Tool Selector saw no request');
}

// The server's own RSS (not the init process's), for sizing memory requests and limits.
const SERVER_RSS_SCRIPT = `
const fs = require('fs');
for (const pid of fs.readdirSync('/proc').filter((name) => /^\\d+$/.test(name))) {
  let argv;
  try { argv = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0'); } catch { continue; }
  if (argv[1] === 'src/index.js') {
    const kb = /VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/' + pid + '/status', 'utf8'))[1];
    process.stdout.write(kb);
  }
}`;

async function reportServerRss(context) {
  const { code, stdout } = await execNode(context.engine, SERVER_RSS_SCRIPT);
  if (code === 0 && stdout) console.log(`# server RSS after one call: ${(Number(stdout) / 1024).toFixed(1)} MB`);
}

async function reportImageSize({ engine, image }) {
  const du = await run(engine, ['run', '--rm', '--entrypoint', 'du', IMAGE, '-sk', APP_DIR]);
  const appMb = du.code === 0 ? `, of which ${APP_DIR} ${(parseInt(du.stdout, 10) / 1024).toFixed(1)} MB` : '';
  console.log(`# image ${IMAGE}: ${(image.Size / 1e6).toFixed(1)} MB${appMb}`);
}

async function checkStopsCleanly(context) {
  requireServing(context);
  await reportServerRss(context);
  const { state, logs } = await stopContainer(context.engine, CONTAINER);
  assert(state.ExitCode === 0, `exit code ${state.ExitCode} after SIGTERM (137: killed after ${STOP_TIMEOUT_SECONDS} s)\n${logs}`);
  assert(/SIGTERM/.test(logs), `the server did not log the SIGTERM it stopped on:\n${logs}`);
}

/** Stops the container as `docker stop` does (SIGTERM, then SIGKILL after the timeout); resolves to its final state and logs. */
async function stopContainer(engine, container) {
  await succeed(engine, ['stop', '--time', String(STOP_TIMEOUT_SECONDS), container], {
    timeout: (STOP_TIMEOUT_SECONDS + 30) * 1000,
  });
  return { state: await containerState(engine, container), logs: await containerLogs(engine, container) };
}

/**
 * The token file of compose.auth.yaml's recipe (`openssl rand -hex 32 > mcp_auth_token`, mode 640,
 * group 1000): the server's group reads it, others do not. Only root can give a file a group it is
 * not in; otherwise the file is world-readable, and its folder (mode 700) keeps it to this user.
 */
function writeTokenFile(context, token) {
  context.tokenDir = fs.mkdtempSync(path.join(os.tmpdir(), 'letta-find-tools-auth-'));
  const file = path.join(context.tokenDir, 'mcp_auth_token');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  if (process.getuid() === 0) {
    fs.chownSync(file, 0, Number(EXPECTED_USER.split(':')[1]));
    fs.chmodSync(file, 0o640);
  } else {
    fs.chmodSync(file, 0o644);
  }
  return file;
}

const UNAUTHORIZED_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'find_tools', arguments: SEND_EMAIL },
});

async function checkBearerAuth(context) {
  requireImage(context);
  const token = randomBytes(32).toString('hex');
  const tokenFile = writeTokenFile(context, token);
  const port = await freePort();
  await startContainer(context, {
    container: AUTH_CONTAINER,
    port,
    extra: ['--volume', `${tokenFile}:${AUTH_SECRET_PATH}:ro`, '--env', `MCP_AUTH_TOKEN_FILE=${AUTH_SECRET_PATH}`],
  });
  const mcpUrl = `http://127.0.0.1:${port}/mcp`;

  const before = toolSelectorRequests(context);
  for (const authorization of [undefined, `Bearer ${randomBytes(32).toString('hex')}`]) {
    const response = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        ...(authorization && { Authorization: authorization }),
      },
      body: UNAUTHORIZED_CALL,
    });
    const challenge = response.headers.get('www-authenticate') ?? '';
    const sent = authorization ? 'a wrong token' : 'no token';
    assert(response.status === 401, `/mcp with ${sent} answered ${response.status}, expected 401`);
    assert(/^Bearer\b/.test(challenge), `/mcp with ${sent}: WWW-Authenticate is '${challenge}', expected a Bearer challenge`);
  }
  assert(toolSelectorRequests(context) === before, 'a call refused with 401 still reached the Tool Selector');

  assertAttachedSendEmail(await callFindTools(mcpUrl, SEND_EMAIL, { Authorization: `Bearer ${token}` }));
  assert(toolSelectorRequests(context) > before, 'the sandbox Tool Selector saw no request');

  const { Config: config } = await inspectContainer(context.engine, AUTH_CONTAINER);
  assert(!config.Env.some((variable) => variable.includes(token)), "the token is in the container's environment");
  const { state, logs } = await stopContainer(context.engine, AUTH_CONTAINER);
  assert(state.ExitCode === 0, `exit code ${state.ExitCode} after SIGTERM\n${logs}`);
  // The server's own word that it read the file, so the logs searched below are the real ones.
  assert(logs.includes('bearer token required'), `the server did not log that it requires a bearer token:\n${logs}`);
  assert(!logs.includes(token), "the token appears in the container's logs");
}

// ---------------------------------------------------------------------------------------------
// Runner

const CHECKS = [
  ['the image builds', checkBuild],
  [`the image runs as the numeric user ${EXPECTED_USER} and has a HEALTHCHECK on /health`, checkImageConfig],
  ['the image holds only what the runtime needs', checkImageContents],
  ['the container starts read-only, with init, no-new-privileges and no capabilities, and answers /health', checkStartsAndAnswersHealth],
  [`the server runs as ${EXPECTED_USER} on a read-only root filesystem`, checkRunsAsNumericNonRoot],
  ['the HEALTHCHECK command passes', checkHealthcheck],
  ['an MCP SDK client gets a find_tools answer through the container from the sandbox upstream', checkFindTools],
  [`SIGTERM stops the container with exit code 0 within ${STOP_TIMEOUT_SECONDS} s`, checkStopsCleanly],
  [
    'with the token as a Compose secret (MCP_AUTH_TOKEN_FILE), /mcp answers 401 with a Bearer challenge without it, ' +
      'the SDK client with it gets a find_tools answer, and the token is in no log and no environment',
    checkBearerAuth,
  ],
];

async function main() {
  const { name: engine, reason } = await findEngine();
  if (!engine) {
    console.log(`container test skipped: no container engine can run here (${reason})`);
    return;
  }
  const sandbox = await startSandbox();
  const context = { engine, sandbox, containers: [] };
  try {
    const counts = await runChecks(CHECKS, context);
    if (context.image) await reportImageSize(context);
    reportCounts('container', counts);
  } finally {
    for (const container of context.containers) await run(engine, ['rm', '--force', container]).catch(() => {});
    if (context.tokenDir) fs.rmSync(context.tokenDir, { recursive: true, force: true });
    await sandbox.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
