'use strict';

// `npm install` and `npm test` in a clone build the addon only when they must. The real script
// runs in a scratch copy of the project's layout whose `build` script records that it ran, with
// a PATH that holds node and npm and, where a case says so, a cargo.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { platformName } = require('../../load-binding.js');

const ROOT = path.join(__dirname, '..', '..');
const BINARY = `letta-find-tools.${platformName()}.node`;

function scratchProject({ withCargo }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ensure-built-'));
  for (const file of ['scripts/ensure-built.js', 'load-binding.js', 'Cargo.toml', 'Cargo.lock', 'build.rs']) {
    fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
  }
  fs.mkdirSync(path.join(dir, 'src', 'napi'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'lib.rs'), '');
  fs.writeFileSync(path.join(dir, 'src', 'napi', 'deep.rs'), '');
  fs.writeFileSync(path.join(dir, 'src', 'napi', 'abort-listeners.js'), '');
  fs.writeFileSync(path.join(dir, 'src', 'index.js'), '');
  const build = `node -e "require('fs').appendFileSync('builds.log', 'built\\n'); require('fs').writeFileSync('${BINARY}', '')"`;
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'scratch', napi: { binaryName: 'letta-find-tools' }, scripts: { build } }),
  );
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  // npm runs package scripts with sh.
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  if (withCargo) {
    fs.writeFileSync(path.join(bin, 'cargo'), '#!/bin/sh\nexit 0\n');
    fs.chmodSync(path.join(bin, 'cargo'), 0o755);
  }
  return { dir, bin };
}

function ensureBuilt({ dir, bin }) {
  const npmCli =
    process.env.npm_execpath ?? path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  const run = spawnSync(process.execPath, ['scripts/ensure-built.js'], {
    cwd: dir,
    env: { PATH: bin, HOME: dir, npm_execpath: npmCli },
    encoding: 'utf8',
  });
  const builds = fs.existsSync(path.join(dir, 'builds.log')) ? fs.readFileSync(path.join(dir, 'builds.log'), 'utf8') : '';
  return { status: run.status, stderr: run.stderr, builds: builds.split('\n').filter(Boolean).length };
}

function setAge(dir, file, secondsAgo) {
  const when = new Date(Date.now() - secondsAgo * 1000);
  fs.utimesSync(path.join(dir, file), when, when);
}

const scratch = [];
afterAll(() => scratch.forEach(({ dir }) => fs.rmSync(dir, { recursive: true, force: true })));
function project(options) {
  const made = scratchProject(options);
  scratch.push(made);
  return made;
}

test('a clone with no binary for this platform builds one', () => {
  const clone = project({ withCargo: true });
  const first = ensureBuilt(clone);
  expect(first).toMatchObject({ status: 0, builds: 1 });
  expect(first.stderr).toMatch(`no native binary for ${platformName()} yet; building it`);
  expect(fs.existsSync(path.join(clone.dir, BINARY))).toBe(true);
});

test('a binary newer than every Rust input is left alone', () => {
  const clone = project({ withCargo: true });
  ensureBuilt(clone);
  expect(ensureBuilt(clone)).toMatchObject({ status: 0, builds: 1, stderr: '' });
});

const RUST_INPUTS = ['src/lib.rs', 'src/napi/deep.rs', 'src/napi/abort-listeners.js', 'Cargo.toml', 'Cargo.lock', 'build.rs'];

test.each(RUST_INPUTS.slice(1))('an edit to %s makes the binary stale', (file) => {
  const clone = project({ withCargo: true });
  ensureBuilt(clone);
  for (const input of RUST_INPUTS) setAge(clone.dir, input, 120);
  setAge(clone.dir, BINARY, 60);
  expect(ensureBuilt(clone)).toMatchObject({ status: 0, builds: 1 });
  setAge(clone.dir, file, 0);
  const stale = ensureBuilt(clone);
  expect(stale).toMatchObject({ status: 0, builds: 2 });
  expect(stale.stderr).toMatch('the Rust sources are newer than the native binary');
});

test("an edit to the server's JS leaves the binary alone", () => {
  const clone = project({ withCargo: true });
  ensureBuilt(clone);
  for (const input of RUST_INPUTS) setAge(clone.dir, input, 120);
  setAge(clone.dir, BINARY, 60);
  setAge(clone.dir, 'src/index.js', 0);
  expect(ensureBuilt(clone)).toMatchObject({ status: 0, builds: 1, stderr: '' });
});

test('with no Rust toolchain it fails with one line naming what to install', () => {
  const clone = project({ withCargo: false });
  const run = ensureBuilt(clone);
  expect(run.status).toBe(1);
  expect(run.builds).toBe(0);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/needs Rust: install cargo 1\.\d+ or newer \(https:\/\/rustup\.rs\), then run npm install again/);
});
