#!/usr/bin/env node
'use strict';

// `npm run test:letta`: the product against a real Letta server (0.16.8) as the MCP client and as
// the Letta API of the find_tools id lookup. Installs Letta into a cached virtual environment
// (scripts/letta/install.js), runs it on PostgreSQL with pgvector, everything on 127.0.0.1, then
// runs the jest specs of __test__/letta with LETTA_TEST_API_URL set. Without python3 it prints
// one line and exits 0; a failed install or start fails the run.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ensureLetta, LETTA_VERSION } = require('./letta/install.js');
const { Services, track, killCommands } = require('./letta/processes.js');
const { startPostgres, startLetta } = require('./letta/servers.js');

const ROOT = path.join(__dirname, '..');
// A bound on a hung spec run, not a timing assertion.
const JEST_TIMEOUT_MS = 20 * 60 * 1000;

function hasPython() {
  return spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;
}

function runJest(lettaUrl) {
  return new Promise((resolve, reject) => {
    const jest = track(spawn(process.execPath, [require.resolve('jest/bin/jest'), '--config', path.join(__dirname, 'letta', 'jest.config.js'), '--runInBand'], {
      cwd: ROOT,
      env: { ...process.env, LETTA_TEST_API_URL: lettaUrl },
      stdio: 'inherit',
    }));
    const hung = setTimeout(() => jest.kill('SIGKILL'), JEST_TIMEOUT_MS);
    jest.once('error', reject);
    jest.once('exit', (code, signal) => {
      clearTimeout(hung);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function main(services) {
  const install = await ensureLetta({
    onBuild: (root, logPath) => process.stderr.write(`[test:letta] installing Letta ${LETTA_VERSION} into ${root} (log: ${logPath})\n`),
  });
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'letta-find-tools-letta-'));
  process.stderr.write(`[test:letta] starting PostgreSQL and Letta ${LETTA_VERSION} (logs: ${runDir})\n`);
  const pgUri = await startPostgres(services, install, runDir);
  const lettaUrl = await startLetta(services, install, runDir, pgUri);
  const code = await runJest(lettaUrl);
  // Stopped before their directory goes: PostgreSQL's data and Letta's home are in it.
  await services.stopAll();
  if (code === 0) fs.rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
  return code;
}

if (!hasPython()) {
  process.stdout.write('test:letta skipped: python3 not found\n');
} else {
  const services = new Services();
  let stopping = false;
  const stopAndExit = async (code) => {
    if (stopping) return;
    stopping = true;
    killCommands();
    await services.stopAll();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => stopAndExit(130));
  main(services).then(stopAndExit, (error) => {
    // After a signal the services fail because they were stopped: nothing to report.
    if (!stopping) process.stderr.write(`[test:letta] ${error.message}\n`);
    stopAndExit(1);
  });
}
