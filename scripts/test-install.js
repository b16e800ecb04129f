#!/usr/bin/env node
'use strict';

// The user story of `npm install letta-find-tools` on a machine with no Rust toolchain, end to end:
// pack the main package and this host's platform package, install both into a fresh project whose
// PATH can build nothing, then require the package, call findTools() against the sandbox upstream,
// and list the tools of the installed MCP server bin over stdio. Linux and macOS only (the PATH
// shims are shell scripts).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('@modelcontextprotocol/client');
const { StdioClientTransport } = require('@modelcontextprotocol/client/stdio');
const { startSandbox } = require('../sandbox/server.js');
const { assert, runChecks, reportCounts } = require('./lib/checks.js');

const ROOT = path.join(__dirname, '..');
const MAIN_PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const NPM_DIR = path.join(ROOT, 'npm');
const SERVER_BIN = 'letta-find-tools-mcp';

// Anything an install could use to compile: each is shadowed by a shim that records the call.
// npm runs its own bundled node-gyp whatever PATH says, and the first thing that does is look for
// Python, so the Python shims are what catch a node-gyp build.
const BUILD_COMMANDS = ['cargo', 'rustc', 'rustup', 'cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'node-gyp', 'python3', 'python'];

const INSTALL_TIMEOUT_MS = 180000;
const CHILD_TIMEOUT_MS = 30000;

// ---------------------------------------------------------------------------------------------
// Processes

function run(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      ...options,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(stdout);
      reject(new Error(`${path.basename(command)} ${args.join(' ')} ended with ${signal ?? code}\n${stderr}${stdout}`));
    });
  });
}

// The npm that runs this script, so the test installs with the npm a user of this Node has.
function npmCliPath() {
  const fromRunScript = process.env.npm_execpath;
  if (fromRunScript && fs.existsSync(fromRunScript)) return fromRunScript;
  return path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
}

function npm(args, options) {
  return run(process.execPath, [npmCliPath(), ...args], options);
}

// ---------------------------------------------------------------------------------------------
// A machine that cannot build

function writeExecutable(file, text) {
  fs.writeFileSync(file, text);
  fs.chmodSync(file, 0o755);
}

/**
 * A PATH holding only node, sh (npm runs package scripts with it, so an install script that tries
 * to build gets as far as the shims) and failing, recording shims for every build command.
 */
function makeBuildlessPath(workDir) {
  const binDir = path.join(workDir, 'bin');
  const callLog = path.join(workDir, 'build-calls.log');
  fs.mkdirSync(binDir);
  fs.writeFileSync(callLog, '');
  fs.symlinkSync(process.execPath, path.join(binDir, 'node'));
  fs.symlinkSync('/bin/sh', path.join(binDir, 'sh'));
  for (const command of BUILD_COMMANDS) {
    writeExecutable(path.join(binDir, command), `#!/bin/sh\necho "${command} $*" >> '${callLog}'\nexit 1\n`);
  }
  return { binDir, callLog };
}

// Dropped: toolchain homes, loader overrides, and what `npm run` exports about this repository
// (its prefix would send the temporary project's install elsewhere).
const FOREIGN_VARIABLE = /^(CARGO|RUSTUP|NAPI_RS_|npm_package_|npm_lifecycle_)|^(NODE_PATH|NODE_OPTIONS|npm_command|npm_config_(local_prefix|global_prefix|prefix))$/;

function buildlessEnv(binDir) {
  const env = { ...process.env, PATH: binDir };
  for (const name of Object.keys(env)) {
    if (FOREIGN_VARIABLE.test(name)) delete env[name];
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Packages

function hostLibc() {
  if (process.platform !== 'linux') return null;
  return process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
}

function platformPackageFits(manifest) {
  const libc = hostLibc();
  return (
    manifest.os.includes(process.platform) &&
    manifest.cpu.includes(process.arch) &&
    (!manifest.libc || manifest.libc.includes(libc))
  );
}

function platformPackageDirs() {
  return fs.readdirSync(NPM_DIR).map((name) => path.join(NPM_DIR, name));
}

function readManifest(dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
}

function hostPlatformPackageDir() {
  const fitting = platformPackageDirs().filter((dir) => platformPackageFits(readManifest(dir)));
  if (fitting.length !== 1) {
    throw new Error(`expected one package in npm/ for ${process.platform}-${process.arch}, found ${fitting.length}`);
  }
  return fitting[0];
}

async function pack(dir, destination) {
  const [report] = JSON.parse(await npm(['pack', '--json', '--pack-destination', destination], { cwd: dir }));
  return { tarball: path.join(destination, report.filename), files: report.files.map((file) => file.path) };
}

// What `napi artifacts` does in the publish job: the built binary joins its platform package.
function stagePlatformPackage(packageDir, stageDir) {
  const manifest = readManifest(packageDir);
  const binary = path.join(ROOT, manifest.main);
  if (!fs.existsSync(binary)) throw new Error(`${manifest.main} is missing: run \`npm run build\` first`);
  fs.cpSync(packageDir, stageDir, { recursive: true });
  fs.copyFileSync(binary, path.join(stageDir, manifest.main));
  return manifest;
}

// ---------------------------------------------------------------------------------------------
// The checks

function checkPlatformPackagesMatchTargets() {
  const manifests = platformPackageDirs().map(readManifest);
  assert(manifests.length === MAIN_PACKAGE.napi.targets.length, `${manifests.length} packages in npm/ for ${MAIN_PACKAGE.napi.targets.length} napi targets`);
  for (const manifest of manifests) {
    assert(manifest.name.startsWith(`${MAIN_PACKAGE.name}-`), `${manifest.name} is not named after ${MAIN_PACKAGE.name}`);
    assert(manifest.version === MAIN_PACKAGE.version, `${manifest.name} is at ${manifest.version}, the main package at ${MAIN_PACKAGE.version}`);
    assert(manifest.os?.length && manifest.cpu?.length, `${manifest.name} lacks os or cpu`);
    assert(!manifest.os.includes('linux') || manifest.libc?.length, `${manifest.name} lacks libc`);
  }
}

async function checkInstallBuildsNothing(context) {
  const { workDir, project, env, callLog } = context;
  const main = await pack(ROOT, workDir);
  assert(!main.files.some((file) => file.endsWith('.node')), `the main package ships a binary: ${main.files}`);
  const platformManifest = stagePlatformPackage(hostPlatformPackageDir(), path.join(workDir, 'platform'));
  const platform = await pack(path.join(workDir, 'platform'), workDir);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'install-test', private: true }));
  const install = npm(
    ['install', main.tarball, platform.tarball, '--prefer-offline', '--ignore-scripts=false', '--foreground-scripts', '--no-audit', '--no-fund'],
    { cwd: project, env, timeout: INSTALL_TIMEOUT_MS },
  );
  // Checked whether or not the install succeeded: a failed build is still a build.
  const outcome = await install.then(() => null, (error) => error);
  const buildCalls = fs.readFileSync(callLog, 'utf8');
  assert(buildCalls === '', `the install ran build commands:\n${buildCalls}`);
  if (outcome) throw outcome;
  context.platformPackage = platformManifest.name;
}

function assertInstalled(platformPackage) {
  assert(platformPackage, 'not run: the install failed');
}

// Runs in the installed project: require the package the way a user does and report where the
// binary came from and what one findTools() call resolved to.
const USE_INSTALLED_PACKAGE = `
const addon = require('letta-find-tools');
const loaded = process.report.getReport().sharedObjects.filter((file) => file.endsWith('.node'));
addon.findTools({ query: 'send an email', agent_id: 'agent-demo', limit: 3 }).then((result) => {
  console.log(JSON.stringify({ loaded, result }));
});
`;

function upstreamEnv(env, sandbox) {
  return {
    ...env,
    TOOLS_API_URL: sandbox.toolSelectorUrl,
    TOOLS_API_ALLOW_INSECURE_HTTP: '1',
    LETTA_API_URL: sandbox.lettaUrl,
  };
}

async function checkRequireAndFindTools({ project, env, sandbox, platformPackage }) {
  assertInstalled(platformPackage);
  const stdout = await run(process.execPath, ['-e', USE_INSTALLED_PACKAGE], { cwd: project, env: upstreamEnv(env, sandbox) });
  const { loaded, result } = JSON.parse(stdout.trim().split('\n').pop());
  const fromPlatformPackage = path.join('node_modules', platformPackage, path.sep);
  assert(loaded.length === 1 && loaded[0].includes(fromPlatformPackage), `binary not loaded from ${platformPackage}: ${loaded}`);
  const answer = JSON.parse(result);
  assert(answer.status === 'success', `findTools() resolved to ${result}`);
  const attached = answer.details.successful_attachments.map((tool) => tool.name);
  assert(attached.includes('send_email'), `send_email was not attached: ${result}`);
  assert(sandbox.requests.some((request) => request.to === 'tool_selector'), 'the sandbox Tool Selector saw no request');
}

async function checkServerBinListsTools({ project, env, sandbox, platformPackage }) {
  assertInstalled(platformPackage);
  const transport = new StdioClientTransport({
    command: path.join(project, 'node_modules', '.bin', SERVER_BIN),
    args: [],
    cwd: project,
    env: upstreamEnv(env, sandbox),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr.on('data', (chunk) => (stderr += chunk));
  const client = new Client({ name: 'install-test', version: MAIN_PACKAGE.version });
  try {
    await client.connect(transport, { timeout: CHILD_TIMEOUT_MS });
    const { tools } = await client.listTools(undefined, { timeout: CHILD_TIMEOUT_MS });
    assert(tools.some((tool) => tool.name === 'find_tools'), `tools/list has no find_tools: ${JSON.stringify(tools)}`);
  } catch (error) {
    error.message += `\nserver stderr:\n${stderr}`;
    throw error;
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Runner

const CHECKS = [
  ['npm/ holds one package per napi target, versions in step with the main package', checkPlatformPackagesMatchTargets],
  ['installs from the packed tarballs with no toolchain and compiles nothing', checkInstallBuildsNothing],
  ['require() loads the platform package binary and findTools() answers', checkRequireAndFindTools],
  [`the installed ${SERVER_BIN} bin answers tools/list over stdio`, checkServerBinListsTools],
];

async function main() {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'letta-find-tools-install-'));
  const project = path.join(workDir, 'project');
  fs.mkdirSync(project);
  const { binDir, callLog } = makeBuildlessPath(workDir);
  const sandbox = await startSandbox();
  try {
    const counts = await runChecks(CHECKS, { workDir, project, env: buildlessEnv(binDir), callLog, sandbox });
    reportCounts('install', counts);
  } finally {
    await sandbox.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
