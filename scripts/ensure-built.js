#!/usr/bin/env node
'use strict';

// Builds the native addon in a clone when this platform's binary is missing or older than the
// Rust sources, so `npm install` (npm's `prepare` step) and `npm test` (its `pretest`) work on a
// fresh clone with no separate build command. npm runs `prepare` only in a clone or a git
// dependency, never for the published package, whose binary comes prebuilt.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { platformName } = require('../load-binding.js');

const ROOT = path.join(__dirname, '..');
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const BINARY = path.join(ROOT, `${PACKAGE.napi.binaryName}.${platformName()}.node`);
const RUST_VERSION = /^rust-version\s*=\s*"([^"]+)"/m.exec(fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8'))[1];

// The JS the addon compiles in (include_str! in src/napi/abort.rs); the rest of src/ is the server's.
const COMPILED_IN_JS = ['src/napi/abort-listeners.js'];

function rustInputs() {
  const sources = fs
    .readdirSync(path.join(ROOT, 'src'), { recursive: true })
    .filter((name) => name.endsWith('.rs'))
    .map((name) => path.join('src', name));
  return ['Cargo.toml', 'Cargo.lock', 'build.rs', ...COMPILED_IN_JS, ...sources].map((name) => path.join(ROOT, name));
}

function whyBuild() {
  const binary = fs.statSync(BINARY, { throwIfNoEntry: false });
  if (!binary) return `no native binary for ${platformName()} yet`;
  const newest = Math.max(...rustInputs().map((file) => fs.statSync(file).mtimeMs));
  return newest > binary.mtimeMs ? 'the Rust sources are newer than the native binary' : null;
}

function hasCargo() {
  const probe = spawnSync('cargo', ['--version'], { stdio: 'ignore' });
  return !probe.error && probe.status === 0;
}

function main() {
  const reason = whyBuild();
  if (!reason) return 0;
  if (!hasCargo()) {
    console.error(
      `letta-find-tools: ${reason}, and building it needs Rust: install cargo ${RUST_VERSION} or newer (https://rustup.rs), then run npm install again.`,
    );
    return 1;
  }
  console.error(`letta-find-tools: ${reason}; building it (npm run build, about a minute)`);
  // The npm running this script when there is one (npm sets npm_execpath), so no shell is needed.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli ? [process.execPath, [npmCli, 'run', 'build']] : ['npm', ['run', 'build']];
  const build = spawnSync(command, args, { cwd: ROOT, stdio: ['ignore', 2, 2] });
  if (build.error) throw build.error;
  return build.status ?? 1;
}

process.exitCode = main();
