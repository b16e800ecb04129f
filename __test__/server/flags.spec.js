'use strict';

// Two readers of the same yes-words: the addon reads its own switches (TOOLS_API_ALLOW_INSECURE_HTTP,
// FIND_TOOLS_TRIGGER_LOOP) for library users who run no server, and the server reads its flags
// (REQUIRE_AGENT_ID, ...) even when the addon cannot load. Each keeps its reader; this holds
// the words to one meaning. They differ on purpose in one way: the addon reads its switches
// exactly as legacy did (untrimmed, so " true" is no yes for a switch that lowers security),
// the server trims (docs/BEHAVIOUR.md §2 and §6).

const addon = require('../..');
const { readServerConfig } = require('../../src/server/config');

const WORDS = ['1', 'true', 'TRUE', 'yes', 'Yes', 'on', 'ON', '0', 'false', 'no', 'off', 'y', 'enabled', '2', 'truthy'];

function addonSaysYes(word) {
  const client = new addon.ToolSelectorClient({
    env: { TOOLS_API_BASE_URL: 'http://tools.invalid:8020', TOOLS_API_ALLOW_INSECURE_HTTP: word, FIND_TOOLS_TOOL_ID: 'tool-ft' },
  });
  try {
    return client.settings().toolSelectorUrl.startsWith('http://');
  } finally {
    client.close();
  }
}

const serverSaysYes = (word) => readServerConfig({ STRICT_AGENT_ID_VALIDATION: word }).agentId.strict;

test.each(WORDS)('%j means the same to the addon and to the server', (word) => {
  expect(addonSaysYes(word)).toBe(serverSaysYes(word));
});

test('a yes-word with spaces around it is a yes to the server only', () => {
  expect(serverSaysYes(' true ')).toBe(true);
  expect(addonSaysYes(' true ')).toBe(false);
});
