'use strict';

// One find_tools call as Letta (0.16, mcp 1.12 Python client) makes it: over stdio a new server
// process (initialize, notifications/initialized, tools/call, tools/list, stdin closed, wait for
// the exit); over Streamable HTTP a new connection and session (the same four requests, each a
// POST, with X-Agent-Id). Raw pipes and raw HTTP: no client library's own cost in the numbers.

const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');

const PROTOCOL_VERSION = '2025-06-18';
const EXCHANGE_TIMEOUT_MS = 30_000;

/** A request or notification as Letta's Python client (mcp 1.12) writes it: method, params, jsonrpc, id. */
function pythonStyle(method, params, id) {
  const message = { method };
  if (params !== undefined) message.params = params;
  message.jsonrpc = '2.0';
  if (id !== undefined) message.id = id;
  return JSON.stringify(message);
}

const initializeLine = (protocolVersion, id = 0) =>
  pythonStyle('initialize', { protocolVersion, capabilities: {}, clientInfo: { name: 'mcp', version: '0.1.0' } }, id);
const INITIALIZED_LINE = pythonStyle('notifications/initialized');
const toolCallLine = (id, args) => pythonStyle('tools/call', { name: 'find_tools', arguments: args }, id);
const toolsListLine = (id) => pythonStyle('tools/list', undefined, id);

// Newline-terminated, as written to the server's stdin (and, harmlessly, as HTTP bodies).
const INITIALIZE = (id) => `${initializeLine(PROTOCOL_VERSION, id)}\n`;
const INITIALIZED = `${INITIALIZED_LINE}\n`;
const TOOLS_CALL = (id, args) => `${toolCallLine(id, args)}\n`;
const TOOLS_LIST = (id) => `${toolsListLine(id)}\n`;

function textOf(answer) {
  return answer?.result?.content?.[0]?.text;
}

/**
 * Spawns `command args` with env and drives the stdio exchange (or, with exchange=false, only
 * waits for the exit: bare node), in cwd. Resolves to { answerMs, totalMs, text }: from spawn to the
 * tools/call answer and to the exit, and the call's text.
 */
function stdioCall({ command, args, env, callArgs, exchange = true, cwd }) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(command, args, { env, cwd, stdio: ['pipe', 'pipe', 'ignore'] });
    const hung = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: no exit after ${EXCHANGE_TIMEOUT_MS} ms`));
    }, EXCHANGE_TIMEOUT_MS);
    let answerMs = null;
    let text = null;
    let buffered = '';
    const onAnswer = (answer) => {
      if (answer.id === 0) child.stdin.write(INITIALIZED + TOOLS_CALL(1, callArgs));
      if (answer.id === 1) {
        answerMs = performance.now() - startedAt;
        text = textOf(answer) ?? JSON.stringify(answer);
        child.stdin.write(TOOLS_LIST(2));
      }
      if (answer.id === 2) child.stdin.end();
    };
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
        const message = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        onAnswer(JSON.parse(message));
      }
    });
    child.stdin.on('error', () => {});
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(hung);
      const totalMs = performance.now() - startedAt;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}`));
      if (exchange && text === null) return reject(new Error(`${args.join(' ')} exited before answering the call`));
      resolve({ answerMs: exchange ? answerMs : totalMs, totalMs, text });
    });
    if (exchange) child.stdin.write(INITIALIZE(0));
    else child.stdin.end();
  });
}

// A Streamable HTTP answer is JSON or one SSE event; the 2025 handler picks by Accept.
function messageOfBody(contentType, body) {
  if (!body) return null;
  if ((contentType ?? '').includes('text/event-stream')) {
    const data = body
      .split('\n')
      .filter((row) => row.startsWith('data:'))
      .map((row) => row.slice(5).trim())
      .join('');
    return data ? JSON.parse(data) : null;
  }
  return JSON.parse(body);
}

/**
 * One session per call over Streamable HTTP on a new connection (undici Client, closed after):
 * resolves to { requestMs: [initialize, initialized, tools/call, tools/list], totalMs, text }.
 */
async function httpSessionCall({ url, agentId, callArgs }) {
  const { Client } = require('undici');
  const connection = new Client(url.origin);
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-agent-id': agentId };
  const requestMs = [];
  const post = async (body) => {
    const startedAt = performance.now();
    const response = await connection.request({ path: url.pathname, method: 'POST', headers, body, headersTimeout: EXCHANGE_TIMEOUT_MS, bodyTimeout: EXCHANGE_TIMEOUT_MS });
    const text = await response.body.text();
    requestMs.push(performance.now() - startedAt);
    if (response.statusCode >= 300) throw new Error(`${url} answered ${response.statusCode}: ${text.slice(0, 200)}`);
    return messageOfBody(response.headers['content-type'], text);
  };
  const startedAt = performance.now();
  try {
    await post(INITIALIZE(0));
    headers['mcp-protocol-version'] = PROTOCOL_VERSION;
    await post(INITIALIZED);
    const answer = await post(TOOLS_CALL(1, callArgs));
    await post(TOOLS_LIST(2));
    return { requestMs, totalMs: performance.now() - startedAt, text: textOf(answer) ?? JSON.stringify(answer) };
  } finally {
    await connection.close();
  }
}

module.exports = { stdioCall, httpSessionCall, pythonStyle, initializeLine, INITIALIZED_LINE, toolCallLine, toolsListLine };
