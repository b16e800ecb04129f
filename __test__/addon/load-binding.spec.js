'use strict';

// When no binary fits the platform, require('letta-find-tools') must name the platform and say how
// to build from source. Each case runs the real napi-generated loader (binding.js) in a child
// process, from a copy of the package entry that has no .node file and no platform package near it,
// and a package.json listing the platform packages as `napi prepublish` does at publish time.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const ENTRY_FILES = ['index.js', 'binding.js', 'load-binding.js'];
const MAIN_PACKAGE = require('../../package.json');

// Reports what require() threw as one JSON line on stdout.
const REQUIRE_AND_REPORT = `
try {
  require('./index.js');
  console.log(JSON.stringify({ loaded: true }));
} catch (error) {
  console.log(JSON.stringify({ message: error.message, code: error.code, cause: error.cause?.message }));
}`;

// No napi-rs package exists for AIX on POWER, so this makes the loader look for one that never will.
const PRETEND_AIX_PPC64 = `
Object.defineProperty(process, 'platform', { value: 'aix' });
Object.defineProperty(process, 'arch', { value: 'ppc64' });
`;

function publishedManifest() {
  const platformPackages = fs
    .readdirSync(path.join(ROOT, 'npm'))
    .map((dir) => require(path.join(ROOT, 'npm', dir, 'package.json')).name);
  const optionalDependencies = Object.fromEntries(platformPackages.map((name) => [name, MAIN_PACKAGE.version]));
  return { ...MAIN_PACKAGE, optionalDependencies };
}

function copyEntryWithoutBinaries() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'letta-find-tools-no-binary-'));
  for (const file of ENTRY_FILES) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(publishedManifest()));
  return dir;
}

// Without the variables that let napi-rs's loader look elsewhere than the platform package.
function envWithoutLoaderOverrides() {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('NAPI_RS_') || name === 'NODE_PATH' || name === 'NODE_OPTIONS') delete env[name];
  }
  return env;
}

function requireFailureIn(dir, prelude = '') {
  const child = spawnSync(process.execPath, ['-e', prelude + REQUIRE_AND_REPORT], {
    cwd: dir,
    env: envWithoutLoaderOverrides(),
    encoding: 'utf8',
    timeout: 20000,
  });
  if (child.status !== 0) throw new Error(`child exited with ${child.status}: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

describe('require() where no binary fits the platform', () => {
  let dir;

  beforeAll(() => {
    dir = copyEntryWithoutBinaries();
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('on this platform without its package, names the platform, the package and how to build', () => {
    const failure = requireFailureIn(dir);
    expect(failure.loaded).toBeUndefined();
    expect(failure.code).toBe('LETTA_FIND_TOOLS_NO_BINARY');
    expect(failure.message).toContain(`platform ${process.platform}, arch ${process.arch}`);
    expect(failure.message).toContain(`optional dependency letta-find-tools-${process.platform}-${process.arch}`);
    expect(failure.message).toContain('--omit=optional');
    expect(failure.message).toContain('npm run build');
    // The generated loader itself ran and gave up, rather than binding.js failing to be found.
    expect(failure.cause).toMatch(/Cannot find native binding/);
  });

  test('on a platform no package is published for, names that platform', () => {
    const failure = requireFailureIn(dir, PRETEND_AIX_PPC64);
    expect(failure.code).toBe('LETTA_FIND_TOOLS_NO_BINARY');
    expect(failure.message).toContain('for aix-ppc64 (platform aix, arch ppc64,');
    expect(failure.message).toContain('No prebuilt binary is published for this platform');
    expect(failure.message).toContain('npm run build');
    expect(failure.cause).toMatch(/Cannot find native binding/);
  });
});
