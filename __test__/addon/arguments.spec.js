'use strict';

// The server describes the find_tools arguments in JS (src/server/arguments.js), because it must
// list the tool and roll back to the legacy script when the native binary cannot load. Here that
// description is held to the addon's own: the FindToolsArgs type generated from the Rust struct,
// and the defaults the Rust core applies.

const fs = require('node:fs');
const path = require('node:path');
const addon = require('../..');
const { INPUT_SCHEMA, coerceArguments, defaultOf } = require('../../src/server/arguments');

/** Field name → TypeScript type of `interface FindToolsArgs` in the generated binding.d.ts. */
function findToolsArgsFields() {
  const declarations = fs.readFileSync(path.join(__dirname, '..', '..', 'binding.d.ts'), 'utf8');
  const body = /export interface FindToolsArgs \{([\s\S]*?)\n\}/.exec(declarations)[1];
  const withoutComments = body.replace(/\/\*\*[\s\S]*?\*\//g, '');
  return Object.fromEntries([...withoutComments.matchAll(/^\s*(\w+)\?: (.+)$/gm)].map((m) => [m[1], m[2].trim()]));
}

test('the listed properties are the fields the native client takes, in its order', () => {
  expect(Object.keys(INPUT_SCHEMA.properties)).toEqual(Object.keys(findToolsArgsFields()));
});

test('each listed type is one the native client accepts for that field', () => {
  const fields = findToolsArgsFields();
  for (const [name, { type }] of Object.entries(INPUT_SCHEMA.properties)) {
    expect(fields[name].split(' | ')).toContain(type);
  }
});

test('the listed defaults are the ones the native client applies', () => {
  expect(defaultOf('limit')).toBe(addon.DEFAULT_LIMIT);
  expect(defaultOf('min_score')).toBe(addon.DEFAULT_MIN_SCORE);
  expect(defaultOf('request_heartbeat')).toBe(false);
});

test('coercion yields exactly the native client’s fields, each of a type it accepts', async () => {
  const coerced = coerceArguments({
    query: 42,
    agent_id: 'agent-1',
    keep_tools: ['a', 7, null, { no: 1 }],
    limit: '3.7',
    min_score: { not: 'a number' },
    request_heartbeat: 'TRUE',
    extra: 'ignored',
  });
  expect(Object.keys(coerced)).toEqual(Object.keys(findToolsArgsFields()));
  expect(coerced).toEqual({
    query: '42',
    agent_id: 'agent-1',
    keep_tools: ['a', '7'],
    limit: '3.7',
    min_score: undefined,
    request_heartbeat: 'TRUE',
  });
  // The native client takes what coercion yields without a TypeError (a closed port: the call
  // resolves to the transport error line, which is all this needs).
  const client = new addon.ToolSelectorClient({
    baseUrl: 'http://127.0.0.1:9',
    allowInsecureHttp: true,
    toolId: 'tool-ft',
    env: {},
  });
  try {
    const { outcome } = await client.findToolsOutcome(coerced);
    expect(outcome).toBe('error');
  } finally {
    client.close();
  }
});
