'use strict';

// The server's own environment (BEHAVIOUR.md §6, §7 and §8). The native client reads the upstream
// variables of BEHAVIOUR.md §2 itself, LOG_FORMAT is log.js's (read first, so that every warning
// is in its format).

const fs = require('node:fs');
const log = require('./log');

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

const BACKENDS = new Set(['native', 'legacy']);

const DEFAULT_PORT = 3020;
const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_PROCESS_TIMEOUT_MS = 30000;
const MIN_PROCESS_TIMEOUT_MS = 5000;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10000;

function text(env, name) {
  const value = env[name];
  return value === undefined ? '' : value.trim();
}

function flag(env, name, fallback) {
  const value = text(env, name).toLowerCase();
  if (value === '') return fallback;
  if (TRUE_WORDS.has(value)) return true;
  if (FALSE_WORDS.has(value)) return false;
  log.warn(`${name}='${env[name]}' is neither true nor false; using ${fallback}`);
  return fallback;
}

function positiveMilliseconds(env, name, fallback) {
  const value = text(env, name);
  if (value === '') return fallback;
  const ms = Number(value);
  if (Number.isFinite(ms) && ms > 0) return ms;
  log.warn(`${name}='${value}' is not a positive number of milliseconds; using ${fallback}`);
  return fallback;
}

function port(env) {
  const value = text(env, 'PORT');
  if (value === '') return DEFAULT_PORT;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0 || number > 65535) {
    throw new Error(`PORT must be a port number (0-65535), got '${value}'`);
  }
  return number;
}

function backend(env) {
  const value = text(env, 'FIND_TOOLS_BACKEND').toLowerCase();
  if (value === '') return 'native';
  if (BACKENDS.has(value)) return value;
  log.warn(`FIND_TOOLS_BACKEND='${env.FIND_TOOLS_BACKEND}' is neither native nor legacy; using native`);
  return 'native';
}

function list(env, name) {
  return text(env, name)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

// What a client can send after "Bearer " in one header value (RFC 6750's token is narrower).
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

// A container secret arrives as a file, usually with a trailing newline that is not part of it.
function authTokenText(env) {
  const file = text(env, 'MCP_AUTH_TOKEN_FILE');
  if (!file) return { name: 'MCP_AUTH_TOKEN', token: text(env, 'MCP_AUTH_TOKEN') };
  let token;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new Error(`MCP_AUTH_TOKEN_FILE cannot be read (${error.code ?? error.message})`);
  }
  if (!token) throw new Error('MCP_AUTH_TOKEN_FILE names an empty file');
  return { name: 'MCP_AUTH_TOKEN_FILE', token };
}

/** The bearer token, or undefined for none; never part of an error message. */
function authToken(env) {
  const { name, token } = authTokenText(env);
  if (!token) return undefined;
  if (!TOKEN_PATTERN.test(token)) throw new Error(`${name}: the token must be printable ASCII without spaces`);
  return token;
}

/** Reads the server settings once; throws only for a value the server cannot start with. */
function readServerConfig(env = process.env) {
  const processTimeoutMs = positiveMilliseconds(env, 'FIND_TOOLS_PROCESS_TIMEOUT', DEFAULT_PROCESS_TIMEOUT_MS);
  return {
    backend: backend(env),
    legacyScript: text(env, 'FIND_TOOLS_LEGACY_SCRIPT'),
    processTimeoutMs: Math.max(processTimeoutMs, MIN_PROCESS_TIMEOUT_MS),
    agentId: {
      require: flag(env, 'REQUIRE_AGENT_ID', true),
      strict: flag(env, 'STRICT_AGENT_ID_VALIDATION', false),
      readHeader: flag(env, 'ENABLE_AGENT_ID_HEADER', true),
      debugSource: flag(env, 'DEBUG_AGENT_ID_SOURCE', false),
    },
    http: {
      port: port(env),
      host: text(env, 'HOST') || DEFAULT_HOST,
      authToken: authToken(env),
      allowedOrigins: list(env, 'MCP_ALLOWED_ORIGINS'),
      allowedHosts: list(env, 'MCP_ALLOWED_HOSTS'),
    },
    shutdownTimeoutMs: positiveMilliseconds(env, 'SHUTDOWN_TIMEOUT_MS', DEFAULT_SHUTDOWN_TIMEOUT_MS),
    stdioLean: flag(env, 'MCP_STDIO_LEAN', true),
  };
}

module.exports = { readServerConfig };
