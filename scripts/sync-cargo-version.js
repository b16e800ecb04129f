'use strict';

// `npm version` runs this (package.json "version" script) so the Rust crate carries the npm
// package's version too: Cargo.toml's [package] version and the crate's entry in Cargo.lock.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const { version } = require(path.join(root, 'package.json'));

function rewrite(file, pattern, replacement) {
  const full = path.join(root, file);
  const text = fs.readFileSync(full, 'utf8');
  if (!pattern.test(text)) throw new Error(`${file}: no crate version found to update`);
  fs.writeFileSync(full, text.replace(pattern, replacement));
}

rewrite('Cargo.toml', /^(\[package\][^[]*?\nversion = ")[^"]+(")/m, `$1${version}$2`);
rewrite('Cargo.lock', /(\nname = "letta_find_tools"\nversion = ")[^"]+(")/, `$1${version}$2`);
process.stdout.write(`Cargo.toml and Cargo.lock now say ${version}\n`);
