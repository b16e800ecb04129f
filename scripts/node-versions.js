#!/usr/bin/env node
'use strict';

// Other Node versions than the one running npm, for the server's specs and the benchmark: each
// is the npm registry's `node` package (which ships the binary), installed pinned into a prefix
// of its own under a cache directory, never a dependency of the project (its `bin` would shadow
// `node` in every npm script, and the README's commands would silently run on another Node).
//
//   node scripts/node-versions.js path <major>     prints that Node's binary (installs it first)
//   node scripts/node-versions.js test [<major>…]  runs the server specs on each (default: all)

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { cacheDir } = require('./lib/cache-dir');

// Letta's image runs Node 22; 24 is the current LTS. Bumped by hand, like any pin.
const PINNED = { 22: '22.23.3', 24: '24.21.0' };
const SERVER_SPECS = ['__test__/server/'];
const INSTALL_TIMEOUT_MS = 300000;

const ROOT = path.join(__dirname, '..');
const CACHE_DIR = process.env.NODE_VERSIONS_DIR || cacheDir('node');

function fail(message) {
  process.stderr.write(`node-versions: ${message}\n`);
  process.exit(1);
}

/** The binary of the pinned Node of that major, installed into its own prefix if missing. */
function nodeBinary(major) {
  const version = PINNED[major];
  if (!version) fail(`no pinned Node ${major}; known: ${Object.keys(PINNED).join(', ')}`);
  const prefix = path.join(CACHE_DIR, version);
  const binary = path.join(prefix, 'node_modules', 'node', 'bin', 'node');
  if (!fs.existsSync(binary)) {
    process.stderr.write(`node-versions: installing node@${version} into ${prefix}\n`);
    fs.mkdirSync(prefix, { recursive: true });
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const installed = spawnSync(npm, ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', `node@${version}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: INSTALL_TIMEOUT_MS,
    });
    if (installed.status !== 0 || !fs.existsSync(binary)) fail(`npm install node@${version} failed`);
  }
  return binary;
}

function runServerSpecs(major) {
  const binary = nodeBinary(major);
  process.stderr.write(`node-versions: server specs on ${spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim()}\n`);
  // The specs spawn the server with process.execPath, so it runs on that Node too.
  const jest = require.resolve('jest/bin/jest', { paths: [ROOT] });
  const run = spawnSync(binary, [jest, ...SERVER_SPECS], { cwd: ROOT, stdio: 'inherit' });
  return run.status === 0;
}

function main([command, ...args]) {
  if (command === 'path' && args.length === 1) {
    process.stdout.write(`${nodeBinary(args[0])}\n`);
    return;
  }
  if (command === 'test') {
    const majors = args.length > 0 ? args : Object.keys(PINNED);
    const failed = majors.filter((major) => !runServerSpecs(major));
    if (failed.length > 0) fail(`server specs failed on Node ${failed.join(', ')}`);
    return;
  }
  fail('usage: node scripts/node-versions.js path <major> | test [<major>...]');
}

main(process.argv.slice(2));
