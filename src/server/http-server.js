'use strict';

// Streamable HTTP at /mcp (one SDK transport and MCP server per session), GET /health and
// GET /metrics, on a plain node:http server.

const http = require('node:http');
const { randomUUID } = require('node:crypto');
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { isInitializeRequest, JSONRPCMessageSchema } = require('@modelcontextprotocol/sdk/types.js');
const { InFlight } = require('./in-flight');
const log = require('./log');

const MCP_PATH = '/mcp';
const MAX_BODY_BYTES = 1024 * 1024;
// After the sessions close, how long their last responses get to reach the clients.
const FLUSH_TIMEOUT_MS = 1000;
// How often idle sessions are looked for, at most.
const SWEEP_INTERVAL_MS = 60 * 1000;

// Error codes as the SDK's transport answers them, so a client sees one vocabulary.
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const INTERNAL_ERROR = -32603;
const SERVER_ERROR = -32000;
const SESSION_NOT_FOUND = -32001;

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendJsonRpcError(res, status, code, message, headers) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

/** Resolves to {text} or, past maxBytes (declared or received), to {tooLarge: true} without buffering more. */
function readBody(req, maxBytes) {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > maxBytes) return resolve({ tooLarge: true });
    const chunks = [];
    let received = 0;
    req.on('data', (chunk) => {
      received += chunk.length;
      if (received > maxBytes) resolve({ tooLarge: true });
      else chunks.push(chunk);
    });
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', reject);
  });
}

function isJsonRpcPayload(body) {
  const messages = Array.isArray(body) ? body : [body];
  return messages.length > 0 && messages.every((message) => JSONRPCMessageSchema.safeParse(message).success);
}

function isInitialization(body) {
  return Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body);
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

/**
 * Sessions by id, each with its MCP server and when it was last used. A client that never
 * sends DELETE (it crashed, or forgot) would otherwise keep its session for the life of the
 * process: sessions idle for idleTimeoutMs, with no response open, are closed.
 */
function sessionTable(idleTimeoutMs) {
  const sessions = new Map();
  const sweep = () => {
    const idleSince = Date.now() - idleTimeoutMs;
    for (const session of sessions.values()) {
      if (session.openResponses === 0 && session.lastActive < idleSince) session.server.close();
    }
  };
  const sweeper = setInterval(sweep, Math.min(SWEEP_INTERVAL_MS, idleTimeoutMs / 2));
  sweeper.unref();
  return {
    get size() {
      return sessions.size;
    },
    servers: () => [...sessions.values()].map((session) => session.server),
    add(sessionId, server) {
      sessions.set(sessionId, { server, lastActive: Date.now(), openResponses: 0 });
    },
    delete: (sessionId) => sessions.delete(sessionId),
    /** The session's server, marked in use until res closes; undefined for an unknown id. */
    use(sessionId, res) {
      const session = sessions.get(sessionId);
      if (!session) return undefined;
      session.openResponses += 1;
      session.lastActive = Date.now();
      res.once('close', () => {
        session.openResponses -= 1;
        session.lastActive = Date.now();
      });
      return session.server;
    },
    stopSweeping: () => clearInterval(sweeper),
  };
}

/**
 * Starts serving. createSession() returns a fresh, unconnected MCP Server; backend, inFlight
 * and metrics feed /health and /metrics. Resolves to {port, sessionCount(), stopAccepting(), close()}.
 */
async function startHttpServer({ host, port, sessionIdleTimeoutMs, createSession, backend, inFlight, metrics }) {
  const sessions = sessionTable(sessionIdleTimeoutMs);
  let stopping = false;

  async function openSession(req, res, body) {
    const server = createSession();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (sessionId) => sessions.add(sessionId, server),
    });
    transport.onclose = () => sessions.delete(transport.sessionId);
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    // A refused initialize leaves no session id: no later request can reach this server.
    if (transport.sessionId === undefined) await server.close();
  }

  async function handleMcp(req, res) {
    if (stopping) return sendJsonRpcError(res, 503, SERVER_ERROR, 'Server is shutting down', { Connection: 'close' });
    let body;
    if (req.method === 'POST') {
      const read = await readBody(req, MAX_BODY_BYTES);
      if (read.tooLarge) {
        const message = `Payload Too Large: Request body must not exceed ${MAX_BODY_BYTES} bytes`;
        return sendJsonRpcError(res, 413, SERVER_ERROR, message, { Connection: 'close' });
      }
      try {
        body = JSON.parse(read.text);
      } catch {
        return sendJsonRpcError(res, 400, PARSE_ERROR, 'Parse error: Invalid JSON');
      }
      if (!isJsonRpcPayload(body)) {
        return sendJsonRpcError(res, 400, INVALID_REQUEST, 'Invalid Request: not a JSON-RPC message');
      }
    }
    const sessionId = req.headers['mcp-session-id'];
    if (sessionId !== undefined) {
      const server = sessions.use(sessionId, res);
      if (!server) return sendJsonRpcError(res, 404, SESSION_NOT_FOUND, 'Session not found');
      return server.transport.handleRequest(req, res, body);
    }
    if (req.method === 'POST' && isInitialization(body)) return openSession(req, res, body);
    return sendJsonRpcError(res, 400, SERVER_ERROR, 'Bad Request: No valid session ID provided');
  }

  function sendHealth(res) {
    const serving = backend.name !== 'unavailable' && !stopping;
    const status = stopping ? 'stopping' : serving ? 'ok' : 'unavailable';
    sendJson(res, serving ? 200 : 503, {
      status,
      transport: 'streamable-http',
      backend: backend.name,
      sessions: sessions.size,
      inFlight: inFlight.size,
      timestamp: new Date().toISOString(),
      ...backend.health(),
    });
  }

  async function sendMetrics(res) {
    const text = await metrics.text();
    res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function route(req, res) {
    const { pathname } = new URL(req.url, 'http://localhost');
    if (pathname === MCP_PATH) return handleMcp(req, res);
    if (req.method === 'GET' && pathname === '/health') return sendHealth(res);
    if (req.method === 'GET' && pathname === '/metrics') return sendMetrics(res);
    return sendJson(res, 404, { error: 'Not found' });
  }

  // Every response until it is sent or its connection drops, so close() can tell when to let go.
  const openResponses = new InFlight();
  const httpServer = http.createServer((req, res) => {
    openResponses.run(() => new Promise((resolve) => res.once('close', resolve)));
    route(req, res).catch((error) => {
      log.error(`HTTP ${req.method} ${req.url}: ${error.stack ?? error}`);
      if (res.headersSent) return res.destroy();
      sendJsonRpcError(res, 500, INTERNAL_ERROR, 'Internal error');
    });
  });
  const boundPort = await listen(httpServer, port, host);
  let closed;

  return {
    port: boundPort,
    sessionCount: () => sessions.size,
    /** New connections are refused and new MCP requests answered 503; calls under way go on. */
    stopAccepting() {
      stopping = true;
      closed = new Promise((resolve) => httpServer.close(resolve));
    },
    /** Closes every session, which ends their streams, lets the last responses go out, then drops every connection. */
    async close() {
      if (!closed) this.stopAccepting();
      sessions.stopSweeping();
      await Promise.all(sessions.servers().map((server) => server.close()));
      await openResponses.whenIdle(FLUSH_TIMEOUT_MS);
      httpServer.closeAllConnections();
      await closed;
    },
  };
}

module.exports = { startHttpServer };
