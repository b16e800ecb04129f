'use strict';

// The find_tools tool: its listing (BEHAVIOUR.md §6) and the handling of one call.

const { ProtocolError, ProtocolErrorCode } = require('@modelcontextprotocol/server');
const { resolveAgentId, AgentIdError } = require('./agent-id');
const { INPUT_SCHEMA, coerceArguments } = require('./arguments');
const log = require('./log');

const FIND_TOOLS_TOOL = Object.freeze({
  name: 'find_tools',
  description: 'Silently manage tools for the agent by searching and attaching relevant tools',
  inputSchema: INPUT_SCHEMA,
});

/**
 * Answers one find_tools call from its raw arguments, the raw x-agent-id header (undefined
 * when there is none) and the caller's AbortSignal: resolves to {text, outcome}, outcome one of
 * 'success', 'error', 'timeout' or 'cancelled' (then text is undefined and `cancelled` holds the
 * abort reason). Shared by MCP's tools/call and the worker's POST /find_tools.
 * backend from backends.js, agentIdPolicy from config.js, inFlight an InFlight, metrics from metrics.js.
 */
function createFindTools({ backend, agentIdPolicy, inFlight, metrics }) {
  async function answer(rawArguments, header, signal) {
    const args = coerceArguments(rawArguments);
    let agent;
    try {
      agent = resolveAgentId({ header, argument: args.agent_id }, agentIdPolicy);
    } catch (error) {
      if (!(error instanceof AgentIdError)) throw error;
      metrics.refused();
      return { text: `Error in find_tools: ${error.message}`, outcome: 'error' };
    }
    if (agentIdPolicy.debugSource) log.info(`find_tools agent id ${agent.agentId ?? '(none)'} from ${agent.source}`);
    try {
      return await backend.call({ ...args, agent_id: agent.agentId }, { signal });
    } catch (error) {
      if (signal?.aborted) return { cancelled: error, outcome: 'cancelled' };
      log.error(`find_tools call failed: ${error.message}`);
      metrics.refused();
      return { text: `Error in find_tools: ${error.message}`, outcome: 'error' };
    }
  }

  return (rawArguments, { header, signal }) =>
    inFlight.run(async () => {
      const startedAt = performance.now();
      const answered = await answer(rawArguments, header, signal);
      metrics.observe((performance.now() - startedAt) / 1000);
      return answered;
    });
}

/** The MCP tools/call handler: HTTP carries the x-agent-id header, stdio has none. */
function createCallToolHandler(findTools) {
  return async function callTool(request, ctx) {
    if (request.params.name !== FIND_TOOLS_TOOL.name) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    }
    const header = ctx.http?.req?.headers.get('x-agent-id') ?? undefined;
    const { text, outcome, cancelled } = await findTools(request.params.arguments, { header, signal: ctx.mcpReq.signal });
    // The SDK sends nothing for a cancelled request; rethrowing just ends the handler.
    if (cancelled) throw cancelled;
    const result = { content: [{ type: 'text', text }] };
    // Contract §6: MCP clients (Letta among them) mark the call failed by this flag alone.
    if (outcome !== 'success') result.isError = true;
    return result;
  };
}

module.exports = { FIND_TOOLS_TOOL, createFindTools, createCallToolHandler };
