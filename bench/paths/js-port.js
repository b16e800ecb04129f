'use strict';

// Paths 2 and 3: the pure-JS port over undici.Pool or global fetch, in the legacy-faithful
// flavour (lookup on every call) or with the same cache as ours; 'raw' is a bare POST of the
// finished body, the floor any JS client pays.

const { CALL_ARGS, FIND_TOOLS_ID } = require('../lib/payloads');
const { createPort, attachBody, sanitize } = require('./port');
const { undiciTransport, fetchTransport } = require('./transports');

const TRANSPORTS = { undici: undiciTransport, fetch: fetchTransport };

function portMode(mode, flavour) {
  if (mode === 'lookup') return flavour === 'cached' ? 'cached' : 'lookup';
  return mode;
}

function create(target, { transport: transportName, flavour }) {
  const transport = TRANSPORTS[transportName](target);
  if (target.mode === 'raw') {
    const body = attachBody(sanitize(CALL_ARGS), FIND_TOOLS_ID);
    return {
      call: async () => (await transport.postAttach(body)).text,
      close: transport.close,
    };
  }
  const findTools = createPort(transport, { mode: portMode(target.mode, flavour), toolId: FIND_TOOLS_ID });
  return { call: () => findTools(CALL_ARGS), close: transport.close };
}

module.exports = { create, modes: ['lookup', 'fixed-id', 'raw'] };
