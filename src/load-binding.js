'use strict';

// Turns "no native binary for this platform" into an error a user can act on.

function isGlibcLinux() {
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
  return Boolean(report?.header?.glibcVersionRuntime);
}

/** This platform as napi-rs spells it in package names: linux-x64-musl, darwin-arm64, win32-x64-msvc. */
function platformName() {
  const { platform, arch } = process;
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  if (platform === 'linux') return `${platform}-${arch}-${isGlibcLinux() ? 'gnu' : 'musl'}`;
  return `${platform}-${arch}`;
}

function noBinaryError(cause) {
  const name = platformName();
  const error = new Error(
    `letta-find-tools: no native binary could be loaded for ${name} ` +
      `(platform ${process.platform}, arch ${process.arch}, Node ${process.versions.node}). ` +
      `The prebuilt binary ships as the optional dependency letta-find-tools-${name}: if it was left ` +
      'out, reinstall without --no-optional / --omit=optional. If none is published for this ' +
      'platform, build from source (needs a Rust toolchain): clone the repository, run ' +
      '`npm install && npm run build` in the clone, and install or require the clone instead.',
  );
  error.code = 'LETTA_FIND_TOOLS_NO_BINARY';
  error.cause = cause;
  return error;
}

function loadBinding(load) {
  try {
    return load();
  } catch (cause) {
    throw noBinaryError(cause);
  }
}

module.exports = { loadBinding, platformName };
