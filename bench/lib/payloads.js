'use strict';

// What the bench upstream answers. Shaped like the real services (the attach answer follows the
// goldens' "resp-full" case), compact like a Python server's output. No integral floats
// (Python would spell 50.0, JSON.parse loses the ".0"), so the JS ports can match byte for byte.

const BENCH_AGENT_ID = 'agent-bench';
const FIND_TOOLS_ID = 'tool-ft-bench';
const DEFAULT_ATTACHMENTS = 2;

// The arguments every path sends, as the MCP server would pass them.
const CALL_ARGS = Object.freeze({
  query: 'search the web and summarise pages',
  agent_id: BENCH_AGENT_ID,
  keep_tools: 'tool-keep-1, tool-keep-2',
  limit: 5,
  min_score: 40,
  request_heartbeat: false,
});

function attachment(index) {
  return {
    success: true,
    tool_id: `tool-${index}`,
    name: index % 7 === 3 ? `recherche_café_${index}` : `web_search_${index}`,
    match_score: 50 + ((index * 37) % 49) + 0.25,
  };
}

/** The Tool Selector's attach answer with `count` attached tools (about 80 bytes each). */
function attachResponseBody(count) {
  const attachments = Array.from({ length: count }, (_, index) => attachment(index));
  return JSON.stringify({
    success: true,
    message: `Successfully processed ${count + 1} candidates (${count} passed min_score=40.5%), attached ${count} tool(s) to agent ${BENCH_AGENT_ID}`,
    details: {
      detached_tools: ['tool-old'],
      failed_detachments: [],
      processed_count: count + 1,
      passed_filter_count: count,
      success_count: count,
      failure_count: 0,
      successful_attachments: attachments,
      failed_attachments: [],
      preserved_tools: [FIND_TOOLS_ID],
      target_agent: BENCH_AGENT_ID,
    },
  });
}

function lettaTool(name, id) {
  return {
    id,
    name,
    tool_type: 'external_mcp',
    description: `${name}: a tool of the benchmark agent, described the way Letta stores it.`,
    tags: ['mcp:bench', 'bench'],
    json_schema: { name, parameters: { type: 'object', properties: { query: { type: 'string' } } } },
  };
}

/** GET /v1/agents/<id>/tools: a handful of tools, find_tools among them (about 2 KB). */
function agentToolsBody() {
  const names = ['send_message', 'conversation_search', 'archival_memory_insert', 'core_memory_append', 'web_search', 'find_tools', 'fetch_page', 'summarise'];
  return JSON.stringify(names.map((name, index) => lettaTool(name, name === 'find_tools' ? FIND_TOOLS_ID : `tool-agent-${index}`)));
}

/** GET /v1/tools/: every tool (only reached when the agent lookup fails). */
function allToolsBody() {
  return JSON.stringify([lettaTool('abc', 'tool-abc'), lettaTool('find_tools', FIND_TOOLS_ID)]);
}

module.exports = {
  FIND_TOOLS_ID,
  DEFAULT_ATTACHMENTS,
  CALL_ARGS,
  attachResponseBody,
  agentToolsBody,
  allToolsBody,
};
