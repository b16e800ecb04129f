'use strict';

// A pure-JS port of the find_tools call (BEHAVIOUR.md §1, §3, §4, §5), written the way a Node
// developer would write it, over a transport (undici.Pool or global fetch). Its Python-style
// JSON spelling covers what the bench upstream sends (no integral floats, no NaN); run.js
// checks each port's line against the native one before timing.

const FALLBACK_TOOL_ID = 'tool-e34b5c60-5bd5-4288-a97f-2167ddf3062b';
const MAX_LIMIT = 25;
const LOOKUP_TTL_MS = 300_000;
const NEGATIVE_LOOKUP_TTL_MS = 30_000;

function numberArg(value, fallback) {
  if (value === undefined || value === null || value === '') return fallback;
  const number = typeof value === 'number' ? value : Number(String(value).trim());
  return Number.isFinite(number) ? number : fallback;
}

function keepToolItems(value) {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : String(value).split(',');
  return items.map((item) => String(item).trim()).filter(Boolean);
}

function sanitize(args) {
  const heartbeat = args.request_heartbeat;
  return {
    query: typeof args.query === 'string' ? args.query : '',
    agentId: typeof args.agent_id === 'string' ? args.agent_id : '',
    keepTools: keepToolItems(args.keep_tools),
    limit: Math.min(Math.max(Math.floor(numberArg(args.limit, 10)), 1), MAX_LIMIT),
    minScore: Math.min(Math.max(numberArg(args.min_score, 50), 0), 100),
    requestHeartbeat: typeof heartbeat === 'string' ? heartbeat.toLowerCase() === 'true' : heartbeat === true,
  };
}

// Python's repr of a float: a whole number still gets its ".0".
function pythonFloat(number) {
  return Number.isInteger(number) ? number.toFixed(1) : String(number);
}

/** json.dumps spelling: ", " and ": " separators, non-ASCII raw (JSON.stringify does that). */
function pythonDumps(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonDumps).join(', ')}]`;
  const members = Object.keys(value).map((key) => `${JSON.stringify(key)}: ${pythonDumps(value[key])}`);
  return `{${members.join(', ')}}`;
}

/** The attach body, keys in the order of BEHAVIOUR.md §4. */
function attachBody(args, toolId) {
  const keepTools = [toolId];
  for (const item of args.keepTools) {
    if (!keepTools.includes(item)) keepTools.push(item);
  }
  let body = `{"limit": ${args.limit}, "min_score": ${pythonFloat(args.minScore)}, "keep_tools": [${keepTools.map((id) => JSON.stringify(id)).join(', ')}], "request_heartbeat": ${args.requestHeartbeat}`;
  if (args.query) body += `, "query": ${JSON.stringify(args.query)}`;
  if (args.agentId) body += `, "agent_id": ${JSON.stringify(args.agentId)}`;
  return `${body}}`;
}

function pythonTruthy(value) {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

/** The result line for an upstream answer (§5). */
function resultLine(status, text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return pythonDumps({ status: 'error', message: `HTTP ${status}` });
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return pythonDumps({ status: 'error', message: `HTTP ${status}` });
  }
  if (status === 200 && pythonTruthy(body.success)) {
    return pythonDumps({
      status: 'success',
      message: 'message' in body ? body.message : 'Tools updated successfully.',
      details: 'details' in body ? body.details : null,
    });
  }
  const error = { status: 'error', message: pythonTruthy(body.error) ? body.error : `HTTP ${status}` };
  if (pythonTruthy(body.details)) error.details = body.details;
  return pythonDumps(error);
}

function failureLine(error) {
  const timedOut = error && (error.name === 'TimeoutError' || /timeout/i.test(error.code || ''));
  return pythonDumps({
    status: 'error',
    message: timedOut ? 'Tool attach request timed out.' : 'Failed to contact tool selector API.',
  });
}

// An agent's own find_tools wins at once; else the last tool whose name has "find" and "tool".
function idFromAgentTools(tools) {
  let candidate = null;
  for (const tool of Array.isArray(tools) ? tools : []) {
    const name = String(tool && tool.name).toLowerCase();
    if (name === 'find_tools') return tool.id;
    if (name.includes('find') && name.includes('tool')) candidate = tool.id;
  }
  return candidate;
}

/** BEHAVIOUR.md §3 without the cache: the agent's tools, then every tool, then the fallback id. */
async function lookupToolId(transport, agentId) {
  if (agentId) {
    try {
      const reply = await transport.getLetta(`/agents/${encodeURIComponent(agentId)}/tools?limit=1000&order=desc`);
      const id = reply.status === 200 ? idFromAgentTools(JSON.parse(reply.text)) : null;
      if (id) return { id, found: true };
    } catch {
      // Falls through to the global list, as legacy did.
    }
  }
  try {
    const reply = await transport.getLetta('/tools/?search=find_tools&limit=1000&order=desc');
    const tools = reply.status === 200 ? JSON.parse(reply.text) : [];
    const exact = tools.find((tool) => String(tool && tool.name).toLowerCase() === 'find_tools');
    if (exact) return { id: exact.id, found: true };
  } catch {
    // Nothing found: the fallback id below.
  }
  return { id: FALLBACK_TOOL_ID, found: false };
}

/** Our cache (§3): TTLs per outcome, one lookup in flight per agent. */
function cachedLookup(transport) {
  const entries = new Map();
  return (agentId) => {
    const entry = entries.get(agentId);
    if (entry && (entry.pending || entry.expiresAt > Date.now())) return entry.id;
    const pending = lookupToolId(transport, agentId).then(({ id, found }) => {
      entries.set(agentId, { id, expiresAt: Date.now() + (found ? LOOKUP_TTL_MS : NEGATIVE_LOOKUP_TTL_MS) });
      return id;
    });
    entries.set(agentId, { id: pending, pending: true });
    return pending;
  };
}

/**
 * A find_tools function over `transport` ({ postAttach(body), getLetta(path) } → { status, text }).
 * mode: 'lookup' (legacy-faithful: look the id up on every call), 'cached' (our cache), or
 * 'fixed-id' (the id is configured, like FIND_TOOLS_TOOL_ID).
 */
function createPort(transport, { mode, toolId }) {
  const lookups = {
    lookup: async (agentId) => (await lookupToolId(transport, agentId)).id,
    cached: cachedLookup(transport),
    'fixed-id': () => toolId,
  };
  const findToolId = lookups[mode];
  if (!findToolId) throw new Error(`unknown port mode ${mode}`);
  return async function findTools(rawArgs) {
    const args = sanitize(rawArgs);
    const id = await findToolId(args.agentId);
    try {
      const reply = await transport.postAttach(attachBody(args, id));
      return resultLine(reply.status, reply.text);
    } catch (error) {
      return failureLine(error);
    }
  };
}

module.exports = { createPort, attachBody, sanitize };
