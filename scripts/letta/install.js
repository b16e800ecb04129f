'use strict';

// Letta 0.16.8 in a cached virtual environment, pinned to Letta's own uv.lock at that version.
// The lock and the alembic migrations ship only in the PyPI sdist, not in the wheel: plain
// `pip install letta==0.16.8` lacks asyncpg and cannot start, and an unpinned `letta[server]`
// resolves a set that no longer imports. The environment is built in a directory of its own and
// renamed into place at the end, so a half-finished install is never taken for a finished one.

const fs = require('node:fs');
const path = require('node:path');
const { cacheDir } = require('../lib/cache-dir');
const { runLogged } = require('./processes.js');

// The last release of the Letta server; later `letta` versions on PyPI are a different product.
const LETTA_VERSION = '0.16.8';
const UV_VERSION = '0.13.9';
// PostgreSQL with pgvector as binaries; not in Letta's lock (Letta lists it only as a comment).
const PGSERVER_VERSION = '0.1.4';
// Letta's extras that the server needs: the PostgreSQL drivers and the REST server.
const LETTA_EXTRAS = ['postgres', 'server'];
// Built from source by the lock (it needs pg_config); psycopg2-binary, also in the lock, is the
// same module prebuilt.
const SKIPPED_PACKAGES = ['psycopg2'];
const STEP_TIMEOUT_MS = 5 * 60 * 1000;

/** Where the pieces are in a finished install. */
function layout(root) {
  return {
    root,
    python: path.join(root, 'venv', 'bin', 'python'),
    sdist: path.join(root, 'sdist', `letta-${LETTA_VERSION}`),
  };
}

async function build(root, env, logPath) {
  const step = (command, args, options = {}) =>
    runLogged(command, args, { env, logPath, timeoutMs: STEP_TIMEOUT_MS, ...options });
  const { python, sdist } = layout(root);
  await step('python3', ['-m', 'venv', path.join(root, 'venv')]);
  await step(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `uv==${UV_VERSION}`]);
  const sdistDir = path.dirname(sdist);
  await step(python, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-binary', ':all:',
    '--no-deps', `letta==${LETTA_VERSION}`, '-d', sdistDir]);
  await step('tar', ['-xzf', `letta-${LETTA_VERSION}.tar.gz`], { cwd: sdistDir });
  const requirements = path.join(root, 'requirements.txt');
  await step(python, ['-m', 'uv', 'export', '--frozen', '--no-dev', ...LETTA_EXTRAS.flatMap((extra) => ['--extra', extra]),
    '--no-emit-project', '--quiet', ...SKIPPED_PACKAGES.flatMap((name) => ['--no-emit-package', name]), '-o', requirements], { cwd: sdist });
  await step(python, ['-m', 'uv', 'pip', 'install', '--python', python, '-r', requirements]);
  await step(python, ['-m', 'uv', 'pip', 'install', '--python', python, '--no-deps', `letta==${LETTA_VERSION}`,
    `pgserver==${PGSERVER_VERSION}`]);
}

/** The virtual environment's site-packages (venv/lib/python3.X/site-packages). */
function sitePackagesOf({ root }) {
  const lib = path.join(root, 'venv', 'lib');
  const [pythonDir] = fs.readdirSync(lib).filter((name) => /^python3\.\d+$/.test(name));
  return path.join(lib, pythonDir, 'site-packages');
}

/** Builds whose process is gone (killed mid-install); one still running is left alone. */
function removeAbandonedBuilds(root) {
  const prefix = `${path.basename(root)}.partial-`;
  for (const name of fs.readdirSync(path.dirname(root))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && !isAlive(pid)) fs.rmSync(path.join(path.dirname(root), name), { recursive: true, force: true });
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * Resolves to the layout of the cached install, building it first when it is not there; a failed
 * build rejects (and leaves nothing behind that a later run would take for finished).
 */
async function ensureLetta({ onBuild }) {
  const root = cacheDir(`letta-${LETTA_VERSION}`);
  if (fs.existsSync(root)) return layout(root);
  fs.mkdirSync(path.dirname(root), { recursive: true });
  removeAbandonedBuilds(root);
  const partial = `${root}.partial-${process.pid}`;
  fs.mkdirSync(partial);
  const logPath = `${root}.install.log`;
  fs.rmSync(logPath, { force: true });
  onBuild(root, logPath);
  // The user's own pip and uv settings (index, proxy, certificates) apply, as to any install.
  const env = process.env;
  try {
    await build(partial, env, logPath);
    fs.renameSync(partial, root);
  } catch (error) {
    fs.rmSync(partial, { recursive: true, force: true });
    // A run alongside finished first: its install is as good.
    if (!fs.existsSync(root)) throw error;
  }
  return layout(root);
}

module.exports = { ensureLetta, sitePackagesOf, LETTA_VERSION };
