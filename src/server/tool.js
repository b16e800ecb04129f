'use strict';

// The find_tools tool: its listing (BEHAVIOUR.md §6) and the handling of one call.

const { resolveAgentId, AgentIdError } = require('./agent-id');
const { INPUT_SCHEMA, coerceArguments } = require('./arguments');
const { callSignal } = require('./client-gone');
const log = require('./log');

const FIND_TOOLS_TOOL = Object.freeze({
  name: 'find_tools',
  title: 'Find tools',
  description: 'Silently manage tools for the agent by searching and attaching relevant tools',
  inputSchema: INPUT_SCHEMA,
  // What a client may ask its user before a call: the call detaches tools (destructive), a
  // repeat may change them again (not idempotent), and it acts only on the operator's own Letta
  // and Tool Selector (a closed world).
  annotations: Object.freeze({ readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false }),
});

/**
 * Answers one find_tools call from its raw arguments, the raw x-agent-id header (undefined
 * when there is none), the caller's AbortSignal and where it came in (transport, and route or
 * the HTTP request it came by, for the log): resolves to {text, outcome}, outcome one of
 * 'success', 'error', 'timeout' or 'cancelled' (then text is undefined and `cancelled` holds the
 * abort reason). Shared by MCP's tools/call and the worker's POST /find_tools.
 * backend from backends.js, agentIdPolicy from config.js, inFlight an InFlight, metrics from metrics.js.
 */
function createFindTools({ backend, agentIdPolicy, inFlight, metrics }) {
  // `facts` collects what the call's log line says beyond its outcome (null: no line).
  async function answer(rawArguments, header, signal, facts) {
    const args = coerceArguments(rawArguments);
    let agent;
    try {
      agent = resolveAgentId({ header, argument: args.agent_id }, agentIdPolicy);
    } catch (error) {
      if (!(error instanceof AgentIdError)) throw error;
      metrics.refused();
      // Not the refusal's text: it may quote the agent ids it refused.
      if (facts) facts.refused = 'agent_id';
      return { text: `Error in find_tools: ${error.message}`, outcome: 'error' };
    }
    if (facts && agentIdPolicy.debugSource) Object.assign(facts, { agent_id: agent.agentId ?? '(none)', agent_id_source: agent.source });
    args.agent_id = agent.agentId;
    try {
      return await backend.call(args, signal);
    } catch (error) {
      if (signal?.aborted) return { cancelled: error, outcome: 'cancelled' };
      log.error(`find_tools call failed: ${error.message}`);
      metrics.refused();
      return { text: `Error in find_tools: ${error.message}`, outcome: 'error' };
    }
  }

  return async (rawArguments, { header, signal, transport, route, httpRequest }) => {
    const startedAt = performance.now();
    const logged = log.logsCalls(agentIdPolicy.debugSource);
    const facts = logged ? {} : null;
    const answered = await inFlight.run(() => answer(rawArguments, header, signal, facts));
    const seconds = (performance.now() - startedAt) / 1000;
    metrics.observe(seconds);
    if (logged) {
      const latencyMs = Math.round(seconds * 1e4) / 10;
      route ??= httpRequest && new URL(httpRequest.url).pathname;
      log.call({ outcome: answered.outcome, latency_ms: latencyMs, transport, route, ...facts });
    }
    return answered;
  };
}

/** The MCP tools/call handler: HTTP carries the x-agent-id header, stdio has none. */
function createCallToolHandler(findTools) {
  return async function callTool(request, ctx) {
    if (request.params.name !== FIND_TOOLS_TOOL.name) {
      // Only the SDK's server gets here (the stdio lean path hands such calls to it), so only it loads the SDK.
      const { ProtocolError, ProtocolErrorCode } = require('@modelcontextprotocol/server');
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    }
    const httpRequest = ctx.http?.req;
    const { text, outcome, cancelled } = await findTools(request.params.arguments, {
      header: httpRequest?.headers.get('x-agent-id') ?? undefined,
      signal: callSignal(ctx.mcpReq.signal, httpRequest),
      transport: httpRequest ? 'http' : 'stdio',
      httpRequest,
    });
    // The SDK sends nothing for a cancelled request; rethrowing just ends the handler.
    if (cancelled) throw cancelled;
    const result = { content: [{ type: 'text', text }] };
    // BEHAVIOUR.md §6: MCP clients (Letta among them) mark the call failed by this flag alone.
    if (outcome !== 'success') result.isError = true;
    return result;
  };
}

module.exports = { FIND_TOOLS_TOOL, createFindTools, createCallToolHandler };
