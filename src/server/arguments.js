'use strict';

// The find_tools arguments as the server lists and forwards them (BEHAVIOUR.md §6): one table,
// from which the tool's input schema, the coercion of what a client sends, and the rollback's
// defaults all come. It cannot come from the addon: the server must list the tool and roll back
// to the legacy script when the native binary does not load. __test__/addon/arguments.spec.js checks it
// against the addon's own description (its FindToolsArgs type and default constants).

function asText(value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return undefined;
}

function keepToolsOf(value) {
  if (!Array.isArray(value)) return asText(value);
  return value.map(asText).filter((item) => item !== undefined);
}

const ofTypes =
  (...types) =>
  (value) =>
    types.includes(typeof value) ? value : undefined;

// Legacy accepted any JSON and the native client is strict about types, so `coerce` converts or
// drops a value of another type, never refuses it.
const ARGUMENTS = Object.freeze({
  query: {
    schema: { type: 'string', description: 'Your search query - what kind of tool are you looking for?' },
    coerce: asText,
  },
  agent_id: {
    schema: { type: 'string', description: 'Your agent ID (optional if x-agent-id header is provided)' },
    coerce: asText,
  },
  keep_tools: {
    schema: { type: 'string', description: 'Comma-separated list of tool IDs to preserve' },
    coerce: keepToolsOf,
  },
  limit: {
    schema: { type: 'number', description: 'Maximum number of tools to find (default: 10)', default: 10 },
    coerce: ofTypes('number', 'string'),
  },
  min_score: {
    schema: { type: 'number', description: 'Minimum match score 0-100 (default: 50.0)', default: 50 },
    coerce: ofTypes('number', 'string'),
  },
  request_heartbeat: {
    schema: { type: 'boolean', description: 'Whether to request an immediate heartbeat (default: false)', default: false },
    coerce: ofTypes('boolean', 'string'),
  },
});

const INPUT_SCHEMA = Object.freeze({
  type: 'object',
  properties: Object.fromEntries(Object.entries(ARGUMENTS).map(([name, { schema }]) => [name, schema])),
});

const COERCIONS = Object.entries(ARGUMENTS).map(([name, { coerce }]) => [name, coerce]);

/** What a client sent, as the native client (and the legacy command line) accept it: a new object. */
function coerceArguments(raw) {
  const input = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : {};
  const args = {};
  for (const [name, coerce] of COERCIONS) args[name] = coerce(input[name]);
  return args;
}

/** The value a missing argument stands for, as the tool's listing announces it. */
const defaultOf = (name) => ARGUMENTS[name].schema.default;

module.exports = { INPUT_SCHEMA, coerceArguments, defaultOf };
