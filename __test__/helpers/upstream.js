'use strict';

// Scriptable upstream servers for the jest specs: a generic recording server, and the legacy
// golden fixture (Letta lookups + a Tool Selector whose answer is set per golden case).

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { readBody } = require('../../sandbox/server');

// The oracle: the cases recorded from the legacy script, and the cases of our own that pin down
// where the addon follows legacy more closely than those recordings show, or departs from it on
// purpose (docs/BEHAVIOUR.md). Both files have the same shape.
const GOLDENS_DIR = path.join(__dirname, '..', 'fixtures', 'goldens');
const GOLDENS_PATH = path.join(GOLDENS_DIR, 'legacy.json');
const OUR_GOLDENS_PATH = path.join(GOLDENS_DIR, 'ours.json');

// The headers the goldens' expected_requests list (the only ones docs/BEHAVIOUR.md names).
const CONTRACT_HEADERS = ['accept', 'content-type', 'x-bare-password', 'authorization'];

const ATTACH_SUFFIX = '/api/v1/tools/attach';

// The lookups as sent now (BEHAVIOUR.md §3: one page covering an agent's tools, the all-tools
// list where Letta serves it without a redirect); the recordings keep the URLs the script sent.
const AGENT_TOOLS_QUERY = '?limit=1000&order=desc';
const ALL_TOOLS_PATH = '/v1/tools/?search=find_tools&limit=1000&order=desc';

/** The path of the agent lookup for an already encoded agent id segment. */
const agentToolsPath = (segment) => `/v1/agents/${segment}/tools${AGENT_TOOLS_QUERY}`;

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `METHOD path` of every request a call may make without the loop trigger. */
const CALL_REQUEST = new RegExp(
  `^(GET ${escapeRegExp(ALL_TOOLS_PATH)}|GET /v1/agents/[^/?#]+/tools${escapeRegExp(AGENT_TOOLS_QUERY)}|POST /api/v1/tools/attach)$`,
);

/** A recorded legacy request with its lookup URL as the client sends it today. */
function withTodaysLookupUrl(request) {
  if (request.to !== 'letta' || request.method !== 'GET') return request;
  if (request.path === '/v1/tools') return { ...request, path: ALL_TOOLS_PATH };
  if (agentIdOf(request.path, 'tools') !== null) return { ...request, path: request.path + AGENT_TOOLS_QUERY };
  return request;
}

function loadGoldens(file = GOLDENS_PATH) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function answerHandlerFailure(res, error) {
  if (res.headersSent) return res.destroy();
  res.writeHead(500, { 'Content-Type': 'text/plain' });
  res.end(`upstream test handler failed: ${error.message}`);
}

// Resolves once the server stops listening and every socket it accepted is gone.
function closeServer(server, sockets) {
  const socketsClosed = [...sockets].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
  const serverClosed = new Promise((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  return Promise.all([serverClosed, ...socketsClosed]).then(() => undefined);
}

/**
 * Listens on 127.0.0.1 (an ephemeral port) with every accepted socket counted and tracked, so
 * close() can end them all. Works for http and raw net servers alike.
 */
async function serveOnLoopback(server) {
  const sockets = new Set();
  let connectionCount = 0;
  server.on('connection', (socket) => {
    connectionCount += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    connections: () => connectionCount,
    openSockets: () => sockets.size,
    close: () => closeServer(server, sockets),
  };
}

/**
 * Calls answer() after delayMs, unless the response closes first: close() destroys every socket,
 * so a delayed answer scheduled this way never keeps jest waiting.
 */
function answerAfter(res, delayMs, answer) {
  if (!delayMs) return answer();
  const timer = setTimeout(answer, delayMs);
  res.once('close', () => clearTimeout(timer));
}

/**
 * A recording http server on 127.0.0.1. handler(req, res, body) answers each request once its
 * whole body (a UTF-8 string) has been read; it may be async. A handler that throws gets a 500.
 * A handler that answers late should use answerAfter(), whose timer close() ends with the socket.
 */
async function startUpstream(handler) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      requests.push({ method: req.method, path: req.url, headers: { ...req.headers }, body });
      await handler(req, res, body);
    } catch (error) {
      answerHandlerFailure(res, error);
    }
  });
  return { ...(await serveOnLoopback(server)), requests };
}

// What the scripted upstream's Tool Selector answers a call it lets succeed, and its line.
const SCRIPTED_OK_LINE = '{"status": "success", "message": "ok", "details": null}';

/**
 * The Tool Selector and the Letta API in one recording server, the call's query saying how the
 * attach is answered: 'slow…' after 400 ms, 'hang' never (until close()), 'boom' a 500 with
 * details, 'reset' a reset connection, anything else a success. Every lookup finds find_tools;
 * serverEnv points a server at it.
 */
async function startScriptedUpstream() {
  const upstream = await startUpstream((req, res, body) => {
    if (req.method === 'GET') return res.end('[{"name": "find_tools", "id": "tool-ft"}]');
    const success = () => res.end(JSON.stringify({ success: true, message: 'ok', details: null }));
    const query = JSON.parse(body).query ?? '';
    if (query.startsWith('slow')) return answerAfter(res, 400, success);
    if (query === 'hang') return undefined;
    if (query === 'boom') {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      return res.end('{"error": "boom", "details": {"trace": "upstream trace"}}');
    }
    if (query === 'reset') return req.socket.destroy();
    return success();
  });
  // A server's environment calling it: a 1 s budget, so that 'hang' times out soon.
  const serverEnv = {
    TOOLS_API_BASE_URL: upstream.url,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: upstream.url,
    TOOLS_API_TIMEOUT: '1',
  };
  return { ...upstream, serverEnv };
}

/** Answers with text as it is, a JSON body an upstream wrote its own way. */
function sendJsonText(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const sendJson = (res, status, value) => sendJsonText(res, status, JSON.stringify(value));

// Shaped like a golden's expected_requests entry, so a spec can compare with toEqual.
function goldenRecord(to, req, body) {
  const headers = {};
  for (const name of CONTRACT_HEADERS) {
    if (req.headers[name] !== undefined) headers[name] = req.headers[name];
  }
  const record = { to, method: req.method, path: req.url, headers };
  if (body !== '') record.body = body;
  return record;
}

// The agent id segment of "/v1/agents/<id>/<leaf>", decoded; null for any other path.
function agentIdOf(requestPath, leaf) {
  const segments = requestPath.split('?')[0].split('/');
  const [empty, version, agents, encodedId, last] = segments;
  if (segments.length !== 5 || empty !== '' || version !== 'v1' || agents !== 'agents' || last !== leaf) return null;
  try {
    return decodeURIComponent(encodedId);
  } catch {
    return null;
  }
}

function answerLettaFixture(fixture, req, res) {
  const path = req.url.split('?')[0];
  // Letta (FastAPI) redirects the path without its trailing slash.
  if (req.method === 'GET' && path === '/v1/tools') {
    res.writeHead(307, { Location: `http://${req.headers.host}/v1/tools/`, 'Content-Length': 0 });
    return res.end();
  }
  if (req.method === 'GET' && path === '/v1/tools/') return sendJson(res, 200, fixture.all_tools);
  const agentId = req.method === 'GET' ? agentIdOf(req.url, 'tools') : null;
  if (agentId !== null && Object.hasOwn(fixture.agents, agentId)) {
    const agent = fixture.agents[agentId];
    return sendJson(res, agent.status ?? 200, agent.tools);
  }
  // The loop trigger's message: answered with the agent's message_status (an agent without one
  // is not found, as in Letta).
  const messagedId = req.method === 'POST' ? agentIdOf(req.url, 'messages') : null;
  const messaged = messagedId !== null && Object.hasOwn(fixture.agents, messagedId) ? fixture.agents[messagedId] : null;
  if (messaged?.message_status !== undefined) {
    return answerAfter(res, messaged.message_delay_ms, () => sendJson(res, messaged.message_status, { messages: [] }));
  }
  return sendJson(res, 404, { detail: 'Not Found' });
}

function sendAttachResponse(res, attachResponse) {
  const body = Buffer.from(attachResponse.body, 'utf8');
  res.writeHead(attachResponse.status, { 'Content-Type': attachResponse.content_type, 'Content-Length': body.length });
  res.end(body);
}

/**
 * The golden fixture: the Letta API of goldens.letta_fixture and a Tool Selector that answers
 * every POST to a path ending in /api/v1/tools/attach with the current case's attach_response.
 * requests holds both servers' requests in arrival order, shaped like expected_requests.
 */
async function startGoldenUpstream(goldens) {
  const requests = [];
  let currentCase = null;

  const letta = await startUpstream((req, res, body) => {
    requests.push(goldenRecord('letta', req, body));
    answerLettaFixture(goldens.letta_fixture, req, res);
  });
  const toolSelector = await startUpstream((req, res, body) => {
    requests.push(goldenRecord('tool_selector', req, body));
    if (req.method !== 'POST' || !req.url.split('?')[0].endsWith(ATTACH_SUFFIX)) {
      return sendJson(res, 404, { error: 'Not found' });
    }
    if (!currentCase) return sendJson(res, 500, { error: 'golden upstream: no case set (call setCase first)' });
    const attachResponse = currentCase.attach_response;
    return answerAfter(res, attachResponse.delay_ms, () => sendAttachResponse(res, attachResponse));
  });

  return {
    toolSelectorUrl: toolSelector.url,
    lettaUrl: `${letta.url}/v1`,
    requests,
    setCase(goldenCase) {
      currentCase = goldenCase;
    },
    reset() {
      requests.length = 0;
    },
    close: () => Promise.all([letta.close(), toolSelector.close()]).then(() => undefined),
  };
}

/** The case's environment with {tool_selector} and {letta} replaced by the given URLs. */
function envForCase(goldenCase, { toolSelectorUrl, lettaUrl }) {
  return Object.fromEntries(
    Object.entries(goldenCase.env).map(([name, value]) => [
      name,
      value.replaceAll('{tool_selector}', toolSelectorUrl).replaceAll('{letta}', lettaUrl),
    ]),
  );
}

/**
 * For a spec file whose tests all run against one golden upstream set to `goldenCase`: jest hooks
 * that start it before the file's tests, reset its request log and case before each, and close it
 * after. Returns an object whose `upstream` and `env` (the case's environment for it) are set once
 * the hooks have run.
 */
function useGoldenUpstream(goldens, goldenCase) {
  const golden = {};
  beforeAll(async () => {
    golden.upstream = await startGoldenUpstream(goldens);
    golden.env = envForCase(goldenCase, golden.upstream);
  });
  afterAll(() => golden.upstream.close());
  beforeEach(() => {
    golden.upstream.reset();
    golden.upstream.setCase(goldenCase);
  });
  return golden;
}

module.exports = {
  startUpstream,
  startScriptedUpstream,
  SCRIPTED_OK_LINE,
  serveOnLoopback,
  startGoldenUpstream,
  useGoldenUpstream,
  loadGoldens,
  envForCase,
  withTodaysLookupUrl,
  agentToolsPath,
  CALL_REQUEST,
  answerAfter,
  sendJsonText,
  GOLDENS_PATH,
  OUR_GOLDENS_PATH,
};
