'use strict';

// The two HTTP stacks a Node developer would reach for, behind the port's small interface:
// postAttach(body) and getLetta(path), each resolving to { status, text }.

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };
const TIMEOUT_MS = 15_000;
const CONNECTIONS = 32;

function splitUrl(url) {
  const parsed = new URL(url);
  return { origin: parsed.origin, basePath: parsed.pathname.replace(/\/+$/, '') };
}

/** One undici.Pool per upstream, bounded like the native client (32 connections). */
function undiciTransport({ toolSelectorUrl, lettaUrl }) {
  const { Pool } = require('undici');
  const toolSelector = splitUrl(toolSelectorUrl);
  const letta = splitUrl(lettaUrl);
  const pools = [toolSelector, letta].map(({ origin }) => new Pool(origin, { connections: CONNECTIONS }));
  const [toolSelectorPool, lettaPool] = pools;
  const attachPath = `${toolSelector.basePath}/api/v1/tools/attach`;
  const send = async (pool, options) => {
    const { statusCode, body } = await pool.request({ ...options, headers: JSON_HEADERS, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
    return { status: statusCode, text: await body.text() };
  };
  return {
    postAttach: (body) => send(toolSelectorPool, { path: attachPath, method: 'POST', body }),
    getLetta: (path) => send(lettaPool, { path: `${letta.basePath}${path}`, method: 'GET' }),
    close: () => Promise.all(pools.map((pool) => pool.close())),
  };
}

/** Node's global fetch with its default dispatcher (no per-origin connection limit). */
function fetchTransport({ toolSelectorUrl, lettaUrl }) {
  const attachUrl = `${toolSelectorUrl.replace(/\/+$/, '')}/api/v1/tools/attach`;
  const send = async (url, init) => {
    const response = await fetch(url, { ...init, headers: JSON_HEADERS, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return { status: response.status, text: await response.text() };
  };
  return {
    postAttach: (body) => send(attachUrl, { method: 'POST', body }),
    getLetta: (path) => send(`${lettaUrl}${path}`, { method: 'GET' }),
    close: async () => {},
  };
}

module.exports = { undiciTransport, fetchTransport };
