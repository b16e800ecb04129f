'use strict';

// The addon on JavaScript runtimes other than Node: it uses nothing of its host beyond Node-API,
// so it must work there (or refuse at load with an error naming the host), and never crash or
// hang. The runtimes' own npm binary packages are installed at test time into node_modules/.cache
// (once; linux x64 glibc only, the platform those packages and this spec's CI share).
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const PROBE = path.join(__dirname, '..', 'fixtures', 'host-probe.cjs');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'letta-find-tools-hosts');
const OK_LINE = '{"status": "success", "message": "ok", "details": null}';

const HOSTS = {
  bun: { pkg: '@oven/bun-linux-x64', version: '1.4.5', binary: 'bin/bun', args: [PROBE] },
  deno: { pkg: '@deno/linux-x64-glibc', version: '2.9.6', binary: 'deno', args: ['run', '--allow-all', PROBE] },
};

const glibc = () => process.platform === 'linux' && Boolean(process.report.getReport().header.glibcVersionRuntime);
const supported = process.arch === 'x64' && glibc();

function installedBinary({ pkg, version, binary }) {
  const dir = path.join(CACHE, `${pkg.replace('/', '+')}@${version}`);
  const file = path.join(dir, 'node_modules', pkg, binary);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', dir, `${pkg}@${version}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return file;
}

function run(file, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // Not a timing assertion: a runtime still alive after this long is hung, and the test says so.
    const hung = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(hung);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

(supported ? describe : describe.skip)('other JavaScript runtimes (linux x64 glibc)', () => {
  test.each(Object.entries(HOSTS))('%s: calls settle, an abort rejects, the process exits on its own', async (name, host) => {
    const binary = installedBinary(host);
    const { code, signal, stdout, stderr } = await run(binary, host.args);
    expect(stderr).not.toMatch(/panic|Segmentation|Fatal|HandleScope/i);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(JSON.parse(stdout.trim())).toEqual({
      lines: [OK_LINE, OK_LINE],
      aborted: 'AbortError',
      outcome: { result: OK_LINE, outcome: 'success' },
    });
  }, 180000);
});
