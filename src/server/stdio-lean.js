'use strict';

// The stdio lean path: a server spawned per call (as Letta runs it) answers the 2025-era exchange
// (initialize, notifications/initialized, ping, tools/list, tools/call of find_tools,
// notifications/cancelled) without loading the SDK, whose loading is most of such a process's
// life (README, "Design choices"). It serves only messages whose shape it knows the SDK would
// accept as they are; everything else goes to the SDK's server (stdio-server.js), which then
// serves the rest of the session. __test__/server/stdio-differential.spec.js holds its answers equal
// to the SDK server's, byte for byte.

const { FIND_TOOLS_TOOL } = require('./tool');
const { SERVER_INFO, CAPABILITIES } = require('./identity');

// The 2025-era revisions the SDK echoes in its initialize answer; an initialize offering any other
// goes to the SDK.
const LEAN_PROTOCOL_VERSIONS = Object.freeze(['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07']);
const INTERNAL_ERROR = -32603;

const isPlainObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);
const isRequestId = (value) => typeof value === 'string' || Number.isSafeInteger(value);
const hasOnlyKeys = (object, allowed) => Object.keys(object).every((key) => allowed.includes(key));
const isEmptyObject = (value) => isPlainObject(value) && Object.keys(value).length === 0;

function isRequest(message) {
  return hasOnlyKeys(message, ['jsonrpc', 'id', 'method', 'params']) && isRequestId(message.id);
}

function isNotification(message) {
  return hasOnlyKeys(message, ['jsonrpc', 'method', 'params']);
}

// What Letta's client (mcp 1.12, Python) and most others send: anything richer goes to the SDK.
function isKnownClientCapabilities(capabilities) {
  if (!isPlainObject(capabilities) || !hasOnlyKeys(capabilities, ['roots', 'sampling', 'elicitation'])) return false;
  const { roots, sampling, elicitation } = capabilities;
  if (roots !== undefined && !(isPlainObject(roots) && hasOnlyKeys(roots, ['listChanged']) && ['boolean', 'undefined'].includes(typeof roots.listChanged))) {
    return false;
  }
  return [sampling, elicitation].every((capability) => capability === undefined || isEmptyObject(capability));
}

function isKnownClientInfo(clientInfo) {
  return (
    isPlainObject(clientInfo) &&
    hasOnlyKeys(clientInfo, ['name', 'title', 'version']) &&
    typeof clientInfo.name === 'string' &&
    typeof clientInfo.version === 'string' &&
    ['string', 'undefined'].includes(typeof clientInfo.title)
  );
}

function isLeanInitialize(message) {
  const params = message.params;
  return (
    message.method === 'initialize' &&
    isRequest(message) &&
    isPlainObject(params) &&
    hasOnlyKeys(params, ['protocolVersion', 'capabilities', 'clientInfo']) &&
    LEAN_PROTOCOL_VERSIONS.includes(params.protocolVersion) &&
    isKnownClientCapabilities(params.capabilities) &&
    isKnownClientInfo(params.clientInfo)
  );
}

function hasNoParams(message) {
  return message.params === undefined || isEmptyObject(message.params);
}

function isLeanToolCall(message) {
  const params = message.params;
  return (
    isRequest(message) &&
    isPlainObject(params) &&
    hasOnlyKeys(params, ['name', 'arguments']) &&
    params.name === FIND_TOOLS_TOOL.name &&
    (params.arguments === undefined || isPlainObject(params.arguments))
  );
}

function isLeanCancellation(message) {
  const params = message.params;
  return (
    isNotification(message) &&
    isPlainObject(params) &&
    hasOnlyKeys(params, ['requestId', 'reason']) &&
    isRequestId(params.requestId) &&
    ['string', 'undefined'].includes(typeof params.reason)
  );
}

/**
 * The lean path of one stdio connection. handlerFor(message) returns, for a parsed JSON-RPC
 * message, the function that serves it, or undefined when the SDK must serve it (then the lean
 * path is never asked again). callTool is tool.js's handler, answer(response) writes one
 * response. cancel(id, reason) aborts one call in flight, cancelAll(reason) every call in
 * flight; the answers of aborted calls are never sent.
 * initialize() is the initialize request it answered (undefined when none), initialized()
 * whether notifications/initialized came, so that the SDK's server can be brought to the same
 * point.
 */
function createLeanPath({ callTool, answer }) {
  let initializeRequest;
  let initializedNotification;
  const calls = new Map();

  const respond = (id, result) => answer({ result, jsonrpc: '2.0', id });

  function call(message) {
    const controller = new AbortController();
    calls.set(message.id, controller);
    const settled = () => {
      if (calls.get(message.id) === controller) calls.delete(message.id);
    };
    callTool({ method: message.method, params: message.params }, { mcpReq: { id: message.id, signal: controller.signal } }).then(
      (result) => {
        settled();
        if (!controller.signal.aborted) respond(message.id, result);
      },
      (error) => {
        settled();
        if (controller.signal.aborted) return;
        const code = Number.isSafeInteger(error.code) ? error.code : INTERNAL_ERROR;
        answer({ jsonrpc: '2.0', id: message.id, error: { code, message: error.message ?? 'Internal error' } });
      },
    );
  }

  const cancel = (id, reason) => calls.get(id)?.abort(reason);

  // Each case: whether the lean path serves this message, and then how.
  function handlerFor(message) {
    if (!isPlainObject(message) || message.jsonrpc !== '2.0') return undefined;
    if (initializeRequest === undefined) {
      if (!isLeanInitialize(message)) return undefined;
      return () => {
        initializeRequest = message;
        respond(message.id, { protocolVersion: message.params.protocolVersion, capabilities: CAPABILITIES, serverInfo: SERVER_INFO });
      };
    }
    switch (message.method) {
      case 'notifications/initialized':
        if (!isNotification(message) || !(message.params === undefined || isPlainObject(message.params))) return undefined;
        return () => {
          initializedNotification = message;
        };
      case 'ping':
        if (!isRequest(message) || !hasNoParams(message)) return undefined;
        return () => respond(message.id, {});
      case 'tools/list':
        if (!isRequest(message) || !hasNoParams(message)) return undefined;
        return () => respond(message.id, { tools: [FIND_TOOLS_TOOL] });
      case 'tools/call':
        if (!isLeanToolCall(message)) return undefined;
        return () => call(message);
      case 'notifications/cancelled':
        if (!isLeanCancellation(message)) return undefined;
        return () => cancel(message.params.requestId, message.params.reason);
      default:
        return undefined;
    }
  }

  return {
    handlerFor,
    initialize: () => initializeRequest,
    initialized: () => initializedNotification,
    // A cancellation the SDK's server received after taking over may be for a call of ours.
    cancel,
    cancelAll(reason) {
      for (const controller of calls.values()) controller.abort(reason);
    },
  };
}

module.exports = { createLeanPath, LEAN_PROTOCOL_VERSIONS };
