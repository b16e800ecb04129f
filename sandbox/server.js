'use strict';

// A local stand-in for the two services find_tools talks to: the Tool Selector API and the Letta
// API. Each runs on its own http server so that connection reuse can be observed per origin.

const http = require('node:http');

const FIND_TOOLS_TOOL = Object.freeze({
  id: 'tool-find-tools',
  name: 'find_tools',
  description: 'Silently manage tools for the agent by searching and attaching relevant tools',
});

const CATALOGUE = Object.freeze(
  [
    ['tool-web-search', 'web_search', 'Search the web and return the top results with titles, links and snippets.', ['web', 'search', 'internet']],
    ['tool-fetch-url', 'fetch_url', 'Fetch a web page by URL and return its readable text.', ['web', 'http', 'url', 'scrape']],
    ['tool-calendar-list-events', 'calendar_list_events', "List upcoming events in the user's calendar.", ['calendar', 'events', 'schedule']],
    ['tool-calendar-create-event', 'calendar_create_event', 'Create a calendar event with a title, a time and attendees.', ['calendar', 'meeting', 'schedule']],
    ['tool-email-send', 'send_email', 'Send an email message to one or more recipients.', ['email', 'mail', 'send']],
    ['tool-email-search', 'search_email', 'Search the mailbox for email messages matching a query.', ['email', 'mail', 'inbox', 'search']],
    ['tool-github-create-issue', 'github_create_issue', 'Open a new issue in a GitHub repository.', ['github', 'issue', 'git', 'code']],
    ['tool-github-search-code', 'github_search_code', 'Search source code across GitHub repositories.', ['github', 'code', 'search', 'repository']],
    ['tool-github-list-pull-requests', 'github_list_pull_requests', 'List the open pull requests of a GitHub repository.', ['github', 'pull', 'request', 'review']],
    ['tool-jira-create-ticket', 'jira_create_ticket', 'Create a Jira ticket in a project backlog.', ['jira', 'ticket', 'issue', 'project']],
    ['tool-jira-search', 'jira_search', 'Search Jira issues with a JQL query.', ['jira', 'issue', 'search']],
    ['tool-slack-post-message', 'slack_post_message', 'Post a message to a Slack channel.', ['slack', 'chat', 'message', 'channel']],
    ['tool-slack-search', 'slack_search_messages', 'Search messages across Slack channels.', ['slack', 'chat', 'search']],
    ['tool-weather-forecast', 'weather_forecast', 'Get the weather forecast for a city for the next days.', ['weather', 'forecast', 'temperature']],
    ['tool-maps-directions', 'maps_directions', 'Get driving, walking or transit directions between two places.', ['maps', 'directions', 'route', 'travel']],
    ['tool-maps-geocode', 'maps_geocode', 'Turn a street address into latitude and longitude coordinates.', ['maps', 'geocode', 'address', 'location']],
    ['tool-sql-query', 'sql_query', 'Run a read-only SQL query against the analytics database.', ['sql', 'database', 'query', 'analytics']],
    ['tool-vector-search', 'vector_search', 'Semantic vector search over the document knowledge base.', ['vector', 'embedding', 'search', 'semantic', 'documents']],
    ['tool-pdf-reader', 'pdf_reader', 'Extract the text and tables of a PDF document.', ['pdf', 'document', 'read', 'extract']],
    ['tool-image-generate', 'image_generate', 'Generate an image from a text prompt.', ['image', 'generate', 'picture', 'art']],
    ['tool-translate', 'translate_text', 'Translate text between languages.', ['translate', 'language', 'translation']],
    ['tool-calculator', 'calculator', 'Evaluate arithmetic and math expressions exactly.', ['math', 'calculator', 'arithmetic']],
    ['tool-code-runner', 'run_python_code', 'Run a Python code snippet in a sandbox and return its output.', ['code', 'python', 'execute', 'run']],
    ['tool-file-storage-upload', 'file_storage_upload', 'Upload a file to cloud storage and return a share link.', ['file', 'storage', 'upload', 'cloud']],
    ['tool-file-storage-list', 'file_storage_list', 'List the files and folders in cloud storage.', ['file', 'storage', 'folder', 'list']],
    ['tool-notion-search', 'notion_search', 'Search pages and databases in a Notion workspace.', ['notion', 'notes', 'wiki', 'search']],
    ['tool-notion-create-page', 'notion_create_page', 'Create a page in a Notion workspace.', ['notion', 'notes', 'page', 'wiki']],
    ['tool-currency-convert', 'currency_convert', "Convert an amount between currencies at today's exchange rate.", ['currency', 'exchange', 'money', 'finance']],
    ['tool-stock-quote', 'stock_quote', 'Get the latest stock price quote for a ticker symbol.', ['stock', 'finance', 'market', 'price']],
    ['tool-news-headlines', 'news_headlines', "Get today's top news headlines by topic.", ['news', 'headlines', 'current']],
    ['tool-summarize', 'summarize_text', 'Summarize a long text into a few sentences.', ['summarize', 'text', 'summary']],
    ['tool-sms-send', 'send_sms', 'Send an SMS text message to a phone number.', ['sms', 'phone', 'text', 'message']],
  ].map(([id, name, description, tags]) => Object.freeze({ id, name, description, tags: Object.freeze(tags) })),
);

const KNOWN_TOOLS = new Map([FIND_TOOLS_TOOL, ...CATALOGUE].map((tool) => [tool.id, tool]));
const CATALOGUE_IDS = new Set(CATALOGUE.map((tool) => tool.id));
// How many requests `requests` remembers, newest last.
const REQUEST_LOG_LENGTH = 1000;

const DEFAULT_LIMIT = 10;
const DEFAULT_MIN_SCORE = 50.0;

function seedAgents() {
  return new Map([
    ['agent-demo', [FIND_TOOLS_TOOL.id, 'tool-weather-forecast']],
    ['agent-2', [FIND_TOOLS_TOOL.id]],
  ]);
}

// ---------------------------------------------------------------------------------------------
// Scoring

// Words so common that matching them says nothing about the tool.
const STOP_WORDS = new Set(
  'a an and any are at by can do for from get i in into is it me my of on or some the to use want with'.split(' '),
);

// A crude plural fold ("emails" -> "email"), applied to both sides so it stays symmetric.
function stem(word) {
  return word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
}

function words(text) {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .map(stem);
}

function queryTerms(query) {
  return [...new Set(words(query).filter((word) => !STOP_WORDS.has(word)))];
}

/**
 * Score 0-100 of a tool for a query, rounded to one decimal: each distinct query term (lower-cased,
 * split on non-alphanumerics, stop words dropped, a trailing plural "s" folded) counts 1 when it
 * is a word of the tool's name or tags, 0.5 when it is only a word of its description, 0 otherwise;
 * the score is 100 * (sum of the term weights) / (number of terms). No terms -> 0.
 */
function scoreTool(query, tool) {
  const terms = queryTerms(query);
  if (terms.length === 0) return 0;
  const strongWords = new Set(words(`${tool.name} ${tool.tags.join(' ')}`));
  const descriptionWords = new Set(words(tool.description));
  const weight = (term) => (strongWords.has(term) ? 1 : descriptionWords.has(term) ? 0.5 : 0);
  const total = terms.reduce((sum, term) => sum + weight(term), 0);
  return Math.round((1000 * total) / terms.length) / 10;
}

/**
 * What the search finds: candidates are the catalogue tools scoring above 0; those scoring at
 * least minScore pass; the best `limit` of those (ties keep catalogue order) are selected.
 */
function selectTools(query, limit, minScore) {
  const candidates = CATALOGUE.map((tool) => ({ tool, score: scoreTool(query, tool) }))
    .filter(({ score }) => score > 0)
    .sort((a, b) => b.score - a.score);
  const passed = candidates.filter(({ score }) => score >= minScore);
  return { candidates, passed, selected: passed.slice(0, limit) };
}

// ---------------------------------------------------------------------------------------------
// Python-flavoured JSON, so the client meets the same spellings as from the real (Python) service

class PythonFloat {
  constructor(value) {
    this.value = value;
  }
}

/** How Python's repr() spells a float: 50.0, 87.5, 1e+16, 1e-07, -0.0, NaN, Infinity. */
function pythonFloatRepr(value) {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  if (Object.is(value, -0)) return '-0.0';
  const [mantissa, exponentText] = value.toExponential().split('e');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  // Within [1e-4, 1e16) JavaScript also writes the shortest digits in positional notation.
  const positional = String(value);
  return positional.includes('.') ? positional : `${positional}.0`;
}

// Python's json escapes everything outside printable ASCII (ensure_ascii), with lower-case hex.
function asciiJsonString(text) {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Compact JSON like the Python service writes it; wrap floats in PythonFloat. */
function toPythonJson(value) {
  if (value instanceof PythonFloat) return pythonFloatRepr(value.value);
  if (typeof value === 'string') return asciiJsonString(value);
  if (Array.isArray(value)) return `[${value.map(toPythonJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).map(([key, item]) => `${asciiJsonString(key)}:${toPythonJson(item)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// Tool Selector

function finiteNumberOr(value, fallback) {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function parseAttachRequest(payload) {
  const limit = Math.floor(finiteNumberOr(payload.limit, DEFAULT_LIMIT));
  return {
    agentId: typeof payload.agent_id === 'string' ? payload.agent_id : '',
    query: typeof payload.query === 'string' ? payload.query : '',
    limit: limit >= 1 ? limit : DEFAULT_LIMIT,
    minScore: finiteNumberOr(payload.min_score, DEFAULT_MIN_SCORE),
    keepTools: Array.isArray(payload.keep_tools) ? payload.keep_tools.filter((id) => typeof id === 'string') : [],
  };
}

/** Detaches the agent's catalogue tools that are neither kept nor selected, attaches the selected. */
function reattach(attachedIds, keepIds, selectedIds) {
  const detached = attachedIds.filter((id) => CATALOGUE_IDS.has(id) && !keepIds.has(id) && !selectedIds.has(id));
  const remaining = attachedIds.filter((id) => !detached.includes(id));
  const added = [...selectedIds].filter((id) => !remaining.includes(id));
  return { detached, attached: [...remaining, ...added] };
}

function attachResponseBody(request, searchResult, detached) {
  const { agentId, minScore, keepTools } = request;
  const { candidates, passed, selected } = searchResult;
  const preserved = [...new Set(keepTools)].filter((id) => KNOWN_TOOLS.has(id));
  return {
    success: true,
    message:
      `Successfully processed ${candidates.length} candidates (${passed.length} passed ` +
      `min_score=${pythonFloatRepr(minScore)}%), attached ${selected.length} tool(s) to agent ${agentId}`,
    details: {
      detached_tools: detached,
      failed_detachments: [],
      processed_count: candidates.length,
      passed_filter_count: passed.length,
      success_count: selected.length,
      failure_count: 0,
      successful_attachments: selected.map(({ tool, score }) => ({
        success: true,
        tool_id: tool.id,
        name: tool.name,
        match_score: new PythonFloat(score),
      })),
      failed_attachments: [],
      preserved_tools: preserved,
      target_agent: agentId,
    },
  };
}

function parseJsonObject(body) {
  try {
    const value = JSON.parse(body);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** The outcome of an attach call as [status, body object]; mutates the agent's tools on success. */
function attach(state, rawBody) {
  const payload = parseJsonObject(rawBody);
  if (!payload) return [400, { error: 'Invalid JSON body' }];
  const request = parseAttachRequest(payload);
  if (!request.agentId) return [400, { error: 'agent_id is required' }];
  const attachedIds = state.agents.get(request.agentId);
  if (!attachedIds) {
    return [404, { success: false, error: `Agent ${request.agentId} not found`, details: { agent_id: request.agentId } }];
  }
  const searchResult = selectTools(request.query, request.limit, request.minScore);
  const selectedIds = new Set(searchResult.selected.map(({ tool }) => tool.id));
  const { detached, attached } = reattach(attachedIds, new Set(request.keepTools), selectedIds);
  state.agents.set(request.agentId, attached);
  return [200, attachResponseBody(request, searchResult, detached)];
}

function handleToolSelector(sandbox, req, res, body) {
  const { password, attachDelayMs } = sandbox.options;
  const path = rawPath(req);
  if (path !== '/api/v1/tools/attach') return sendJson(res, 404, toPythonJson({ error: 'Not found' }));
  if (req.method !== 'POST') return sendJson(res, 405, toPythonJson({ error: 'Method not allowed' }));
  if (password && req.headers['x-bare-password'] !== `password ${password}`) {
    return sendJson(res, 401, toPythonJson({ error: 'Unauthorized' }));
  }
  // Decided at arrival, answered after the delay: a client that gave up still changed the agent.
  const [status, answer] = attach(sandbox.state, body);
  return answerAfter(res, attachDelayMs, () => sendJson(res, status, toPythonJson(answer)));
}

// ---------------------------------------------------------------------------------------------
// Letta API

// Letta sorts tool lists by creation time. find_tools was registered first (the MCP server is
// added before the catalogue tools are), so it is the oldest: on an agent with more than one
// page of tools, Letta's default newest-first page leaves it out.
const CREATION_ORDER = new Map([FIND_TOOLS_TOOL, ...CATALOGUE].map((tool, index) => [tool.id, index]));

function toolSummary(id) {
  const { name, description } = KNOWN_TOOLS.get(id) ?? { name: id };
  return { id, name, description };
}

// Split before decoding, so an encoded "/" stays inside its segment as it does on a real server.
function decodedSegments(path) {
  try {
    return path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return null;
  }
}

// FastAPI's answer to a query parameter it cannot read.
function invalidQuery(name, message) {
  return { status: 422, body: { detail: [{ type: 'invalid', loc: ['query', name], msg: message }] } };
}

// SQL ILIKE, as Letta's `search` filter runs it: `%` any run, `_` any one character.
function ilike(text, pattern) {
  const source = [...pattern].map((char) => (char === '%' ? '.*' : char === '_' ? '.' : char.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')));
  return new RegExp(`^${source.join('')}$`, 'is').test(text);
}

/**
 * A tool list as Letta 0.16.8 answers it, as {status, body}: sorted by creation time (`order`,
 * `desc` by default: newest first), then cut to `limit` (0: no limit, as in Letta).
 */
function lettaPage(query, ids, defaultLimit) {
  const limitText = query.get('limit');
  if (limitText !== null && !/^-?\d+$/.test(limitText)) return invalidQuery('limit', 'Input should be a valid integer');
  const limit = limitText === null ? defaultLimit : Number(limitText);
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') return invalidQuery('order', "Input should be 'asc' or 'desc'");
  const sorted = [...ids].sort((a, b) => (CREATION_ORDER.get(a) ?? Infinity) - (CREATION_ORDER.get(b) ?? Infinity));
  if (order === 'desc') sorted.reverse();
  const page = limit ? sorted.slice(0, Math.max(limit, 0)) : sorted;
  return { status: 200, body: page.map(toolSummary) };
}

// Letta's list of all tools; `name`/`names` keep exact names, `search` an ILIKE `%term%`.
function allTools(query) {
  const names = [...query.getAll('name'), ...query.getAll('names')];
  const search = query.get('search');
  const matching = [...KNOWN_TOOLS.values()].filter(
    (tool) => (names.length === 0 || names.includes(tool.name)) && (search === null || ilike(tool.name, `%${search}%`)),
  );
  return lettaPage(query, matching.map((tool) => tool.id), 50);
}

function answerLetta(res, { status, body }) {
  return sendJson(res, status, JSON.stringify(body));
}

function handleLetta(sandbox, req, res) {
  const { lettaPassword } = sandbox.options;
  if (lettaPassword && req.headers.authorization !== `Bearer ${lettaPassword}`) {
    return sendJson(res, 401, JSON.stringify({ detail: 'Unauthorized' }));
  }
  const path = req.method === 'GET' ? rawPath(req) : null;
  const queryText = req.url.slice(path?.length ?? 0);
  const query = new URLSearchParams(queryText);
  if (path === '/v1/tools') {
    // FastAPI's trailing-slash redirect, to the absolute URL, the query kept.
    res.writeHead(307, { Location: `http://${req.headers.host}/v1/tools/${queryText}`, 'Content-Length': 0 });
    return res.end();
  }
  if (path === '/v1/tools/') return answerLetta(res, allTools(query));
  const segments = path === null ? null : decodedSegments(path);
  if (segments?.length === 4 && segments[0] === 'v1' && segments[1] === 'agents' && segments[3] === 'tools') {
    const attachedIds = sandbox.state.agents.get(segments[2]);
    if (!attachedIds) return sendJson(res, 404, JSON.stringify({ detail: 'Agent not found' }));
    return answerLetta(res, lettaPage(query, attachedIds, 10));
  }
  return sendJson(res, 404, JSON.stringify({ detail: 'Not Found' }));
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

// The path exactly as sent: WHATWG URL parsing would resolve "%2E%2E" and hide a client's mistakes.
function rawPath(req) {
  return req.url.split('?')[0];
}

function sendJson(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

// The timer dies with the connection, so neither a client that gave up nor close() leaves one behind.
function answerAfter(res, delayMs, answer) {
  if (!delayMs) return answer();
  const timer = setTimeout(answer, delayMs);
  res.once('close', () => clearTimeout(timer));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

function reportWhenAnswered(sandbox, label, req, res) {
  const startedAt = Date.now();
  res.on('finish', () => {
    const durationMs = Date.now() - startedAt;
    sandbox.options.onResponse?.({ to: label, method: req.method, path: req.url, status: res.statusCode, durationMs });
  });
}

async function serve(sandbox, label, handle, req, res) {
  let body;
  try {
    body = await readBody(req);
  } catch {
    return res.destroy(); // the client went away mid-request; there is no one to answer
  }
  // The most recent ones only: a sandbox left running (`npm run sandbox`, a soak) must not grow.
  if (sandbox.requests.length === REQUEST_LOG_LENGTH) sandbox.requests.shift();
  sandbox.requests.push({ to: label, method: req.method, path: req.url, headers: { ...req.headers }, body });
  try {
    handle(sandbox, req, res, body);
  } catch (error) {
    // A sandbox bug should show up as a visible 500, not as a hung or reset request.
    sendJson(res, 500, JSON.stringify({ error: `sandbox failure: ${error.message}` }));
  }
}

function createOrigin(sandbox, label, handle) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    reportWhenAnswered(sandbox, label, req, res);
    serve(sandbox, label, handle, req, res);
  });
  server.on('connection', (socket) => {
    sandbox.connections[label] += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const close = () => {
    const socketsClosed = [...sockets].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
    const serverClosed = new Promise((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    return Promise.all([serverClosed, ...socketsClosed]).then(() => undefined);
  };
  return { server, close };
}

/**
 * Starts the sandbox Tool Selector and Letta API.
 * options: toolSelectorPort, lettaPort (0 = ephemeral), password (Tool Selector X-BARE-PASSWORD),
 * lettaPassword (Letta Bearer token), attachDelayMs (delay before each attach answer),
 * onResponse({to, method, path, status, durationMs}) called as each answer is sent.
 */
async function startSandbox(options = {}) {
  const sandbox = {
    options,
    state: { agents: seedAgents() },
    requests: [],
    connections: { tool_selector: 0, letta: 0 },
  };
  const toolSelector = createOrigin(sandbox, 'tool_selector', handleToolSelector);
  const letta = createOrigin(sandbox, 'letta', handleLetta);
  const closeAll = () => Promise.all([toolSelector.close(), letta.close()]).then(() => undefined);
  try {
    const toolSelectorPort = await listen(toolSelector.server, options.toolSelectorPort ?? 0);
    const lettaPort = await listen(letta.server, options.lettaPort ?? 0);
    return {
      toolSelectorUrl: `http://127.0.0.1:${toolSelectorPort}`,
      lettaUrl: `http://127.0.0.1:${lettaPort}/v1`,
      state: sandbox.state,
      requests: sandbox.requests,
      connections: sandbox.connections,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

module.exports = { startSandbox, CATALOGUE, FIND_TOOLS_TOOL, scoreTool, selectTools, pythonFloatRepr, readBody };
