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

// The published package lists every prebuilt platform package as an optional dependency.
function publishedPlatformPackages() {
  return Object.keys(require('./package.json').optionalDependencies ?? {});
}

function whereToGetABinary(packageName) {
  const buildFromSource =
    'build from source (needs a Rust toolchain): clone the repository, run `npm install && npm run build` ' +
    'in the clone, and install or require the clone instead.';
  if (!publishedPlatformPackages().includes(packageName)) {
    return `No prebuilt binary is published for this platform: ${buildFromSource}`;
  }
  return (
    `Its prebuilt binary ships as the optional dependency ${packageName}, which is missing or failed ` +
    `to load: reinstall without --no-optional / --omit=optional, or ${buildFromSource}`
  );
}

function noBinaryError(cause) {
  const name = platformName();
  const error = new Error(
    `letta-find-tools: no native binary could be loaded for ${name} ` +
      `(platform ${process.platform}, arch ${process.arch}, Node ${process.versions.node}). ` +
      whereToGetABinary(`letta-find-tools-${name}`),
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
