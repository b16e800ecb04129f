'use strict';

// PostgreSQL (pgvector included) and Letta for `npm run test:letta`, every one on 127.0.0.1.

const fs = require('node:fs');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { freePort } = require('../lib/free-port');
const { runLogged, waitUntilReady, accepts } = require('./processes.js');
const { sitePackagesOf } = require('./install.js');

// PostgreSQL refuses to run as root, which CI is: then it runs as nobody.
const NOBODY = 65534;
const DATABASE = 'letta';
const DATABASE_USER = 'letta';
// Bounds on a broken start, not timing assertions.
const POSTGRES_START_TIMEOUT_MS = 60 * 1000;
const MIGRATIONS_TIMEOUT_MS = 5 * 60 * 1000;
const LETTA_START_TIMEOUT_MS = 3 * 60 * 1000;
const COMMAND_TIMEOUT_MS = 60 * 1000;
const HEALTH_TIMEOUT_MS = 2000;

function asPostgresUser(command, args) {
  if (process.getuid() !== 0) return [command, args];
  return ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', command, ...args]];
}

/**
 * pgserver's binaries, copied into runDir: nobody cannot read them inside root's cache. They find
 * their libraries at bin/../../../pgserver.libs, so both directories keep their layout.
 */
function copyPostgresBinaries(install, runDir) {
  const site = sitePackagesOf(install);
  const target = path.join(runDir, 'pgserver-site');
  for (const name of ['pgserver', 'pgserver.libs']) {
    fs.cpSync(path.join(site, name), path.join(target, name), { recursive: true });
  }
  fs.chmodSync(runDir, 0o755);
  return path.join(target, 'pgserver', 'pginstall', 'bin');
}

/** PostgreSQL on a free port of 127.0.0.1 with Letta's database; resolves to its URI. */
async function startPostgres(services, install, runDir) {
  const bin = copyPostgresBinaries(install, runDir);
  // Owned by the server's user: its data, its socket and its password file.
  const home = path.join(runDir, 'postgres');
  fs.mkdirSync(home);
  const password = randomBytes(16).toString('hex');
  const passwordFile = path.join(home, 'password');
  fs.writeFileSync(passwordFile, password);
  if (process.getuid() === 0) {
    fs.chownSync(home, NOBODY, NOBODY);
    fs.chownSync(passwordFile, NOBODY, NOBODY);
  }
  const data = path.join(home, 'data');
  const env = { PATH: process.env.PATH, LC_ALL: 'C' };
  const logPath = path.join(runDir, 'postgres.log');
  const [initdb, initdbArgs] = asPostgresUser(path.join(bin, 'initdb'), ['-D', data, '-U', DATABASE_USER,
    `--pwfile=${passwordFile}`, '-A', 'scram-sha-256', '-E', 'UTF8']);
  await runLogged(initdb, initdbArgs, { env, logPath, timeoutMs: COMMAND_TIMEOUT_MS });
  const port = await freePort();
  const [postgres, postgresArgs] = asPostgresUser(path.join(bin, 'postgres'), ['-D', data,
    '-c', 'listen_addresses=127.0.0.1', '-p', String(port), '-k', home]);
  const server = services.start('postgres', postgres, postgresArgs, { env, logPath });
  await waitUntilReady(server, () => accepts(port), POSTGRES_START_TIMEOUT_MS);
  const psqlEnv = { ...env, PGPASSWORD: password };
  const psql = (database, sql) => runLogged(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port),
    '-U', DATABASE_USER, '-d', database, '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: psqlEnv, logPath, timeoutMs: COMMAND_TIMEOUT_MS });
  // The socket may accept before the server takes logins; a refused login is retried, bounded.
  await waitUntilReady(server, () => psql('postgres', 'SELECT 1').then(() => true, () => false), POSTGRES_START_TIMEOUT_MS);
  await psql('postgres', `CREATE DATABASE ${DATABASE}`);
  await psql(DATABASE, 'CREATE EXTENSION vector');
  return `postgresql://${DATABASE_USER}:${password}@127.0.0.1:${port}/${DATABASE}`;
}

/**
 * The environment Letta runs with: nothing of ours but PATH (the stdio child needs node), a home
 * of its own, and every outbound attempt (start-up downloads, model calls, telemetry) sent
 * through a proxy on a closed port of 127.0.0.1.
 */
function lettaEnv(runDir, pgUri, closedPort) {
  const home = path.join(runDir, 'letta-home');
  fs.mkdirSync(home, { recursive: true });
  const nowhere = `http://127.0.0.1:${closedPort}`;
  const local = '127.0.0.1,localhost';
  return {
    PATH: process.env.PATH,
    HOME: home,
    LETTA_PG_URI: pgUri,
    // Letta 0.16 turns stdio MCP servers off unless told.
    MCP_DISABLE_STDIO: 'false',
    HTTP_PROXY: nowhere,
    HTTPS_PROXY: nowhere,
    ALL_PROXY: nowhere,
    http_proxy: nowhere,
    https_proxy: nowhere,
    all_proxy: nowhere,
    NO_PROXY: local,
    no_proxy: local,
    OPENAI_API_BASE: `${nowhere}/v1`,
    ANTHROPIC_API_URL: nowhere,
    OLLAMA_BASE_URL: nowhere,
    PYTHONUNBUFFERED: '1',
  };
}

/** Letta's schema by its own alembic migrations, then Letta; resolves to its API URL (…/v1). */
async function startLetta(services, install, runDir, pgUri) {
  const closedPort = await freePort();
  const env = lettaEnv(runDir, pgUri, closedPort);
  await runLogged(install.python, ['-m', 'alembic', 'upgrade', 'head'], {
    env, cwd: install.sdist, logPath: path.join(runDir, 'alembic.log'), timeoutMs: MIGRATIONS_TIMEOUT_MS,
  });
  const port = await freePort();
  const launcher = path.join(__dirname, 'launch_letta.py');
  const letta = services.start('letta', install.python, [launcher, String(port)], {
    env, cwd: runDir, logPath: path.join(runDir, 'letta.log'),
  });
  const url = `http://127.0.0.1:${port}/v1`;
  await waitUntilReady(letta, () => healthy(url), LETTA_START_TIMEOUT_MS);
  return url;
}

async function healthy(url) {
  try {
    const response = await fetch(`${url}/health/`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    return response.ok;
  } catch {
    return false;
  }
}

module.exports = { startPostgres, startLetta };
