'use strict';

// The HTTP surface (BEHAVIOUR.md §8) on a plain node:http server: Streamable HTTP at /mcp through
// the SDK's createMcpHandler (both protocol eras, stateless), the worker's POST /find_tools,
// GET /health and GET /metrics; the Host/Origin guards in front of all of them, bearer auth in
// front of /mcp and /find_tools, and request bodies bounded, each and all together.

const http = require('node:http');
const { createMcpHandler } = require('@modelcontextprotocol/server');
const { toNodeHandler } = require('@modelcontextprotocol/node');
const { createRequestGuard } = require('./guards');
const { createAuthGate } = require('./auth');
const { createWorkerApi } = require('./worker-api');
const { InFlight } = require('./in-flight');
const { clientGoneSignal, tiedToConnection } = require('./client-gone');
const { toOriginForm } = require('./request-target');
const { BodyBudget } = require('./body-budget');
const { sendJson } = require('./respond');
const log = require('./log');

const MCP_PATH = '/mcp';
const MAX_BODY_BYTES = 1024 * 1024;
// Request bodies held at once, all connections together; SECURITY.md gives the memory it bounds.
const MAX_BODY_BYTES_IN_FLIGHT = 32 * MAX_BODY_BYTES;
// After the calls in flight are answered, how long the last responses get to reach the clients.
const FLUSH_TIMEOUT_MS = 1000;
// The code the SDK's transports answer a refused request with, so a client sees one vocabulary.
const SERVER_ERROR = -32000;
const INTERNAL_ERROR = -32603;

function sendJsonRpcError(res, status, code, message, headers) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

// Connection is hop-by-hop (RFC 9110 §7.6.1): node:http answers the request's own (RFC 9112 §9.6)
// unless a handler overrides it, as the SDK's event-stream answers do with `keep-alive`.
function withoutConnectionHeader(handler) {
  return {
    async fetch(request, options) {
      const response = await handler.fetch(request, options);
      response.headers.delete('connection');
      return response;
    },
  };
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
 * Starts serving. createServer() returns a fresh, unconnected MCP Server; findTools (tool.js)
 * answers POST /find_tools; backend, inFlight and metrics feed /health and /metrics.
 * Resolves to {port, stopAccepting(), close()}.
 */
async function startHttpServer({ host, port, authToken, allowedHosts, allowedOrigins, createServer, findTools, backend, inFlight, metrics }) {
  const mcpHandler = createMcpHandler(() => createServer(), {
    maxRequestBodySize: MAX_BODY_BYTES,
    onerror: (error) => log.warn(`MCP: ${error.message}`),
  });
  const mcpWebHandler = withoutConnectionHeader(mcpHandler);
  const serveMcp = (req, res) =>
    toNodeHandler(tiedToConnection(mcpWebHandler, clientGoneSignal(res)), { maxRequestBodySize: MAX_BODY_BYTES })(req, res);
  const serveFindTools = createWorkerApi({ findTools, maxBodyBytes: MAX_BODY_BYTES });
  const bodies = new BodyBudget({ totalBytes: MAX_BODY_BYTES_IN_FLIGHT, maxBodyBytes: MAX_BODY_BYTES });
  const guard = createRequestGuard({ host, allowedHosts, allowedOrigins });
  const authorized = createAuthGate(authToken);
  let stopping = false;

  function sendHealth(res) {
    const serving = backend.name !== 'unavailable' && !stopping;
    // "healthy" is what monitors of the legacy server look for.
    const status = stopping ? 'stopping' : serving ? 'healthy' : 'unavailable';
    sendJson(res, serving ? 200 : 503, {
      status,
      transport: 'streamable-http',
      backend: backend.name,
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
    if (!toOriginForm(req)) return sendJson(res, 400, { error: 'Bad request target' }, { Connection: 'close' });
    if (!guard(req, res)) return undefined;
    const { pathname } = new URL(req.url, 'http://localhost');
    if (req.method === 'GET' && pathname === '/health') return sendHealth(res);
    if (req.method === 'GET' && pathname === '/metrics') return sendMetrics(res);
    if (pathname !== MCP_PATH && pathname !== '/find_tools') return sendJson(res, 404, { error: 'Not found' });
    if (authorized && !(await authorized(req, res))) return undefined;
    if (stopping) return sendJsonRpcError(res, 503, SERVER_ERROR, 'Server is shutting down', { Connection: 'close' });
    const releaseBody = bodies.reserve(req);
    if (!releaseBody) {
      return sendJsonRpcError(res, 503, SERVER_ERROR, 'Server busy: too many request bodies in flight', { Connection: 'close', 'Retry-After': '1' });
    }
    res.once('close', releaseBody);
    return pathname === MCP_PATH ? serveMcp(req, res) : serveFindTools(req, res);
  }

  // Every response until it is sent or its connection drops, so close() can tell when to let go.
  const openResponses = new InFlight();
  const httpServer = http.createServer((req, res) => {
    openResponses.enter();
    res.once('close', () => openResponses.leave());
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
    /** New connections are refused and new requests answered 503; calls under way go on. */
    stopAccepting() {
      stopping = true;
      closed = new Promise((resolve) => httpServer.close(resolve));
    },
    /** Lets the last responses go out, closes the MCP handler, then drops every connection. */
    async close() {
      if (!closed) this.stopAccepting();
      await openResponses.whenIdle(FLUSH_TIMEOUT_MS);
      await mcpHandler.close();
      httpServer.closeAllConnections();
      await closed;
    },
  };
}

module.exports = { startHttpServer, MAX_BODY_BYTES, MAX_BODY_BYTES_IN_FLIGHT };
