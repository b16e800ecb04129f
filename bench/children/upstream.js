'use strict';

// The benchmark upstream, run as its own process (forked by lib/upstream-process.js): a Tool
// Selector and a Letta API, each on http and (given a certificate) https. A minimal keep-alive
// HTTP/1.1 server on raw sockets with pre-built answers, so the upstream costs as little CPU as
// possible on this 2-core machine and the clients' differences show. It counts the TCP
// connections it accepts, per server.

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');

const { serveRpc } = require('../lib/ipc');
const { DEFAULT_ATTACHMENTS, attachResponseBody, agentToolsBody, allToolsBody } = require('../lib/payloads');

const ATTACH_PATH = /^(?:\/p\/(\d+))?\/api\/v1\/tools\/attach$/;
const AGENT_TOOLS_PATH = /^\/v1\/agents\/[^/]+\/tools$/;
const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_TEXT = { 200: 'OK', 404: 'Not Found', 411: 'Length Required' };

let recording = null;
const answers = new Map();

function buildAnswer(status, body, close) {
  const payload = Buffer.from(body, 'utf8');
  const head = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}`,
    'Content-Type: application/json',
    `Content-Length: ${payload.length}`,
    ...(close ? ['Connection: close'] : []),
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

// Answers are built once per (route, close) and reused: the upstream should cost next to nothing.
function answer(key, close, makeBody, status = 200) {
  const cacheKey = `${key}|${close}`;
  let bytes = answers.get(cacheKey);
  if (!bytes) {
    bytes = buildAnswer(status, makeBody(), close);
    answers.set(cacheKey, bytes);
  }
  return bytes;
}

function route(method, target, close) {
  const path = target.split('?')[0];
  const attach = method === 'POST' && ATTACH_PATH.exec(path);
  if (attach) {
    const count = attach[1] === undefined ? DEFAULT_ATTACHMENTS : Number(attach[1]);
    return answer(`attach:${count}`, close, () => attachResponseBody(count));
  }
  if (method === 'GET' && AGENT_TOOLS_PATH.test(path)) return answer('agent-tools', close, agentToolsBody);
  if (method === 'GET' && path === '/v1/tools/') return answer('all-tools', close, allToolsBody);
  return answer('not-found', close, () => '{"detail":"Not Found"}', 404);
}

function headerValue(head, name) {
  const match = new RegExp(`\r\n${name}:[ \t]*([^\r]*)`, 'i').exec(head);
  return match ? match[1].trim() : null;
}

/** Serves keep-alive HTTP/1.1 on one socket; clients here always send Content-Length bodies. */
function serveSocket(socket, counters) {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let pending = null;
  socket.on('data', (chunk) => {
    pending = pending ? Buffer.concat([pending, chunk]) : chunk;
    while (pending) {
      const headEnd = pending.indexOf(HEAD_END);
      if (headEnd < 0) return;
      const head = pending.toString('latin1', 0, headEnd);
      if (headerValue(head, 'transfer-encoding')) {
        socket.end(buildAnswer(411, '{"detail":"Content-Length required"}', true));
        pending = null;
        return;
      }
      const bodyStart = headEnd + HEAD_END.length;
      const requestEnd = bodyStart + Number(headerValue(head, 'content-length') || 0);
      if (pending.length < requestEnd) return;
      const lineEnd = head.indexOf('\r\n');
      const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
      const [method, target, version] = requestLine.split(' ');
      const close = version === 'HTTP/1.0' || /^close$/i.test(headerValue(head, 'connection') || '');
      if (recording) recording.push({ method, path: target, body: pending.toString('utf8', bodyStart, requestEnd) });
      pending = pending.length > requestEnd ? pending.subarray(requestEnd) : null;
      counters.requests += 1;
      const bytes = route(method, target, close);
      if (close) {
        socket.end(bytes);
        return;
      }
      socket.write(bytes);
    }
  });
}

function listen(server, counters) {
  server.on('connection', () => {
    counters.accepted += 1;
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

async function start() {
  const counters = {};
  const ports = {};
  const tlsOptions = process.env.BENCH_TLS_CERT
    ? { cert: fs.readFileSync(process.env.BENCH_TLS_CERT), key: fs.readFileSync(process.env.BENCH_TLS_KEY) }
    : null;
  const servers = [
    ['toolSelectorHttp', (handler) => net.createServer(handler)],
    ['lettaHttp', (handler) => net.createServer(handler)],
    ...(tlsOptions
      ? [
          ['toolSelectorHttps', (handler) => tls.createServer(tlsOptions, handler)],
          ['lettaHttps', (handler) => tls.createServer(tlsOptions, handler)],
        ]
      : []),
  ];
  for (const [name, create] of servers) {
    const serverCounters = { accepted: 0, requests: 0 };
    counters[name] = serverCounters;
    ports[name] = await listen(
      create((socket) => serveSocket(socket, serverCounters)),
      serverCounters,
    );
  }
  serveRpc({
    ports: () => ports,
    counters: () => ({ counters, cpu: process.cpuUsage(), rss: process.memoryUsage().rss }),
    record: () => {
      recording = [];
    },
    recorded: () => {
      const requests = recording || [];
      recording = null;
      return requests;
    },
  });
}

start().catch((error) => {
  process.stderr.write(`bench upstream failed: ${error.stack}\n`);
  process.exit(1);
});
