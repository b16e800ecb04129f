'use strict';

// The find_tools tool: its listing (contract §6) and the handling of one call.

const { McpError, ErrorCode } = require('@modelcontextprotocol/sdk/types.js');
const { resolveAgentId, AgentIdError } = require('./agent-id');
const { TIMEOUT_TEXT: LEGACY_TIMEOUT_TEXT } = require('./legacy');
const log = require('./log');

const FIND_TOOLS_TOOL = Object.freeze({
  name: 'find_tools',
  description: 'Silently manage tools for the agent by searching and attaching relevant tools',
  inputSchema: {
    type: 'object',
    properties: {
      query: { type: 'string', description: 'Your search query - what kind of tool are you looking for?' },
      agent_id: { type: 'string', description: 'Your agent ID (optional if x-agent-id header is provided)' },
      keep_tools: { type: 'string', description: 'Comma-separated list of tool IDs to preserve' },
      limit: { type: 'number', description: 'Maximum number of tools to find (default: 10)', default: 10 },
      min_score: { type: 'number', description: 'Minimum match score 0-100 (default: 50.0)', default: 50 },
      request_heartbeat: {
        type: 'boolean',
        description: 'Whether to request an immediate heartbeat (default: false)',
        default: false,
      },
    },
  },
});

// Contract §5: the status key comes first, so the result's start says how the call went.
const SUCCESS_PREFIX = '{"status": "success"';
const NATIVE_TIMEOUT_LINE = '{"status": "error", "message": "Tool attach request timed out."}';

function outcomeOf(text) {
  if (text.startsWith(SUCCESS_PREFIX)) return 'success';
  if (text === NATIVE_TIMEOUT_LINE || text === LEGACY_TIMEOUT_TEXT) return 'timeout';
  return 'error';
}

function asText(value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return undefined;
}

function keepToolsOf(value) {
  if (!Array.isArray(value)) return asText(value);
  return value.map(asText).filter((item) => item !== undefined);
}

function ofTypes(value, types) {
  return types.includes(typeof value) ? value : undefined;
}

/**
 * The arguments as the native client accepts them. Legacy accepted any JSON, and the client is
 * strict about types, so a value of another type is converted or dropped, never refused.
 */
function coerceArguments(raw) {
  const input = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : {};
  return {
    query: asText(input.query),
    agent_id: asText(input.agent_id),
    keep_tools: keepToolsOf(input.keep_tools),
    limit: ofTypes(input.limit, ['number', 'string']),
    min_score: ofTypes(input.min_score, ['number', 'string']),
    request_heartbeat: ofTypes(input.request_heartbeat, ['boolean', 'string']),
  };
}

/**
 * The tools/call handler, shared by every session: backend from backends.js, agentIdPolicy from
 * config.js, inFlight an InFlight, metrics from metrics.js.
 */
function createFindToolsHandler({ backend, agentIdPolicy, inFlight, metrics }) {
  async function answer(rawArguments, extra) {
    const args = coerceArguments(rawArguments);
    let agent;
    try {
      agent = resolveAgentId({ header: extra.requestInfo?.headers?.['x-agent-id'], argument: args.agent_id }, agentIdPolicy);
    } catch (error) {
      if (!(error instanceof AgentIdError)) throw error;
      return { text: `Error in find_tools: ${error.message}`, outcome: 'error' };
    }
    if (agentIdPolicy.debugSource) log.info(`find_tools agent id ${agent.agentId ?? '(none)'} from ${agent.source}`);
    try {
      const text = await backend.call({ ...args, agent_id: agent.agentId }, { signal: extra.signal });
      return { text, outcome: outcomeOf(text) };
    } catch (error) {
      if (extra.signal?.aborted) return { cancelled: error, outcome: 'cancelled' };
      log.error(`find_tools call failed: ${error.message}`);
      return { text: `Error in find_tools: ${error.message}`, outcome: 'error' };
    }
  }

  return async function callTool(request, extra) {
    if (request.params.name !== FIND_TOOLS_TOOL.name) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    }
    return inFlight.run(async () => {
      const startedAt = performance.now();
      const { text, outcome, cancelled } = await answer(request.params.arguments, extra);
      metrics.record(outcome, (performance.now() - startedAt) / 1000);
      // The SDK sends nothing for a cancelled request; rethrowing just ends the handler.
      if (cancelled) throw cancelled;
      return { content: [{ type: 'text', text }] };
    });
  };
}

module.exports = { FIND_TOOLS_TOOL, createFindToolsHandler };
