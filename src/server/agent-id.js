'use strict';

// Which agent a call is for (BEHAVIOUR.md §6): the x-agent-id header or the agent_id argument.

const AGENT_ID_PATTERN = /^[a-zA-Z0-9\-_]+$/;

/** An agent id problem; its message is the legacy text the agent sees. */
class AgentIdError extends Error {}

// A repeated header reaches us joined with ", " (RFC 9110 §5.3); no valid id holds a comma, so
// each list item is one value. Letta sends its own X-Agent-Id, so two different values mean a
// custom x-agent-id header was registered beside it: which agent is meant cannot be told.
function headerAgentId(header) {
  const joined = Array.isArray(header) ? header.join(',') : header;
  if (typeof joined !== 'string') return '';
  const values = [...new Set(joined.split(',').map((value) => value.trim()).filter(Boolean))];
  if (values.length > 1) {
    const quoted = values.map((value) => `'${value}'`).join(' != ');
    throw new AgentIdError(
      `Agent ID mismatch: x-agent-id headers ${quoted}; remove the custom x-agent-id header from this MCP server's registration (Letta sends its own)`,
    );
  }
  return values[0] ?? '';
}

/**
 * Resolves the agent id of one call from the raw header (string, string[] or undefined) and the
 * argument (already a string or undefined), under policy {require, strict, readHeader}.
 * Returns {agentId (undefined when none), source: 'header' | 'parameter' | 'none'};
 * throws AgentIdError.
 */
function resolveAgentId({ header, argument }, policy) {
  const fromHeader = policy.readHeader ? headerAgentId(header) : '';
  const fromArgument = typeof argument === 'string' ? argument.trim() : '';
  if (fromHeader && fromArgument && fromHeader !== fromArgument) {
    throw new AgentIdError(`Agent ID mismatch: header '${fromHeader}' != parameter '${fromArgument}'`);
  }
  const agentId = fromHeader || fromArgument;
  if (!agentId) {
    if (policy.require) throw new AgentIdError('Agent ID must be provided either in x-agent-id header or agent_id parameter');
    return { agentId: undefined, source: 'none' };
  }
  if ((policy.strict || policy.require) && !AGENT_ID_PATTERN.test(agentId)) {
    throw new AgentIdError(`Invalid agent ID format: ${agentId}`);
  }
  return { agentId, source: fromHeader ? 'header' : 'parameter' };
}

module.exports = { resolveAgentId, AgentIdError };
