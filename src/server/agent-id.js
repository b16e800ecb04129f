'use strict';

// Which agent a call is for (BEHAVIOUR.md §6): the x-agent-id header or the agent_id argument.

const AGENT_ID_PATTERN = /^[a-zA-Z0-9\-_]+$/;

/** An agent id problem; its message is the legacy text the agent sees. */
class AgentIdError extends Error {}

// A repeated header reaches us joined with ", " (RFC 9110 §5.3), so its first list item is the
// first value; a single header stays whole unless it holds a comma, which no valid id does.
function firstHeaderValue(header) {
  const value = Array.isArray(header) ? header[0] : header;
  return typeof value === 'string' ? value.split(',')[0].trim() : '';
}

/**
 * Resolves the agent id of one call from the raw header (string, string[] or undefined) and the
 * argument (already a string or undefined), under policy {require, strict, readHeader}.
 * Returns {agentId (undefined when none), source: 'header' | 'parameter' | 'none'};
 * throws AgentIdError.
 */
function resolveAgentId({ header, argument }, policy) {
  const fromHeader = policy.readHeader ? firstHeaderValue(header) : '';
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
