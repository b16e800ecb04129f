'use strict';

// MCP over stdio (BEHAVIOUR.md §6). One bounded line reader (line-reader.js) feeds the lean path
// (stdio-lean.js) until a message comes that only the SDK serves; from then on the SDK's
// serveStdio, on a transport of ours fed by the same reader, serves the rest of the session.
// Every answer goes out through one writer, which knows the requests still unanswered, so that
// the goodbye is the same on both paths: stdin closed, every request read before it is answered,
// exit 0; a SIGTERM after that is the client giving up, and cancels what is left.

const { readLines, MAX_LINE_BYTES } = require('./line-reader');
const { createLeanPath } = require('./stdio-lean');
const { InFlight } = require('./in-flight');
const log = require('./log');

const PARSE_ERROR = -32700;
// The id under which the SDK's server is shown the initialize the lean path already answered.
const REPLAYED_INITIALIZE_ID = 'letta-find-tools/replayed-initialize';

const isResponse = (message) => message.method === undefined && ('result' in message || 'error' in message);

// The SDK's serveStdio on a transport of ours: it is handed the lines our reader read, parsed
// as the SDK's own stdio transport parses them, and writes through our writer.
function connectSdk({ createServer, send }) {
  const { serveStdio } = require('@modelcontextprotocol/server/stdio');
  const { deserializeMessage } = require('@modelcontextprotocol/server');
  const transport = {
    async start() {},
    send: async (message) => send(message),
    async close() {
      transport.onclose?.();
    },
  };
  const handle = serveStdio(createServer, { transport, onerror: (error) => log.warn(`MCP: ${error.message}`) });
  const deliver = (message) => {
    try {
      transport.onmessage?.(message);
    } catch (error) {
      transport.onerror?.(error);
    }
  };
  return {
    deliver,
    /** Delivers one line, telling received(message) first; returns the message, or undefined if it held none. */
    deliverLine(line, received) {
      let message;
      try {
        message = deserializeMessage(line);
      } catch (error) {
        // As the SDK's stdio transport does: a line that is not JSON is skipped, a non-message reported.
        if (!(error instanceof SyntaxError)) transport.onerror?.(error);
        return undefined;
      }
      received(message);
      deliver(message);
      return message;
    },
    close: () => handle.close(),
  };
}

/**
 * Serves MCP on this process's stdin and stdout. createServer builds the SDK's server, callTool
 * is tool.js's handler, inFlight counts the find_tools calls (for the log), lean=false lets the
 * SDK serve every message, shutdownTimeoutMs bounds the wait for answers, close() releases the
 * backend before the process exits.
 */
function serveStdio({ createServer, callTool, inFlight, lean: leanEnabled, shutdownTimeoutMs, close }) {
  // Requests read and not yet answered, by id (a client may reuse an id once answered).
  const unanswered = new Map();
  const awaitingAnswers = new InFlight();
  let stdoutGone = false;
  let stdinEnded = false;
  let draining = false;
  let sdk;
  let replayedInitializeId;

  const settle = (id) => {
    const count = unanswered.get(id);
    if (count === undefined) return;
    if (count === 1) unanswered.delete(id);
    else unanswered.set(id, count - 1);
    awaitingAnswers.leave();
  };

  const received = (message) => {
    if (typeof message.method !== 'string') return;
    if (message.id !== undefined) {
      unanswered.set(message.id, (unanswered.get(message.id) ?? 0) + 1);
      awaitingAnswers.enter();
    } else if (message.method === 'notifications/cancelled') {
      // A cancelled request is never answered, by either path.
      settle(message.params?.requestId);
    }
  };

  const write = (message) => {
    if (!stdoutGone) process.stdout.write(`${JSON.stringify(message)}\n`);
    if (isResponse(message)) settle(message.id);
  };

  const lean = leanEnabled ? createLeanPath({ callTool, answer: write }) : undefined;

  function takeOver() {
    sdk = connectSdk({
      createServer,
      send(message) {
        if (replayedInitializeId !== undefined && isResponse(message) && message.id === replayedInitializeId) {
          replayedInitializeId = undefined;
          return;
        }
        write(message);
      },
    });
    const initialize = lean?.initialize();
    if (initialize === undefined) return;
    // The SDK's server negotiates the era and version from initialize: it sees the one the lean
    // path answered, under an id no request in flight has, and its answer is dropped.
    replayedInitializeId = REPLAYED_INITIALIZE_ID;
    for (let suffix = 1; unanswered.has(replayedInitializeId); suffix += 1) replayedInitializeId = `${REPLAYED_INITIALIZE_ID}-${suffix}`;
    sdk.deliver({ ...initialize, id: replayedInitializeId });
    const initialized = lean.initialized();
    if (initialized !== undefined) sdk.deliver(initialized);
  }

  function onLine(line) {
    if (sdk === undefined) {
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        // The SDK's stdio transport skips a line that is not JSON, without a word.
        return;
      }
      const serve = lean.handlerFor(message);
      if (serve !== undefined) {
        received(message);
        serve();
        return;
      }
      takeOver();
    }
    const message = sdk.deliverLine(line, received);
    if (lean !== undefined && message?.method === 'notifications/cancelled') lean.cancel(message.params?.requestId, message.params?.reason);
  }

  function onOversized() {
    log.warn(`stdin: a line over ${MAX_LINE_BYTES} bytes was skipped`);
    write({ jsonrpc: '2.0', id: null, error: { code: PARSE_ERROR, message: `Parse error: line over ${MAX_LINE_BYTES} bytes` } });
  }

  function exit(code) {
    close();
    process.exit(code);
  }

  // stdin closed, SIGTERM or SIGINT with stdin open: every request read is answered, then exit 0.
  async function drain(reason) {
    if (draining) return;
    draining = true;
    log.info(`${reason}: stopping; ${inFlight.size} call(s) in flight`);
    reader.stop();
    if (!(await awaitingAnswers.whenIdle(shutdownTimeoutMs))) {
      log.warn(`${awaitingAnswers.size} request(s) still unanswered after ${shutdownTimeoutMs} ms; stopping anyway`);
    }
    let code = 0;
    try {
      await sdk?.close();
    } catch (error) {
      log.error(`shutdown: ${error.stack ?? error}`);
      code = 1;
    }
    exit(code);
  }

  // The client is gone (a signal after it closed stdin, or stdout closed): nothing read is worth
  // finishing, and a call cancelled now makes no change upstream that nobody will hear of.
  function giveUp(reason) {
    log.info(`${reason}: cancelling ${inFlight.size} call(s) in flight and stopping`);
    reader.stop();
    lean?.cancelAll(new Error(reason));
    // Closing the SDK's server aborts its calls at once; its promise only says it is closed.
    sdk?.close().catch(() => {});
    exit(0);
  }

  const reader = readLines(process.stdin, {
    onLine,
    onOversized,
    onEnd() {
      stdinEnded = true;
      drain('stdin closed');
    },
  });
  if (!leanEnabled) takeOver();
  log.info('serving MCP over stdio');

  const onSignal = (name) => (stdinEnded ? giveUp(`${name} after stdin closed`) : drain(name));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.stdout.on('error', (error) => {
    stdoutGone = true;
    giveUp(`stdout: ${error.code ?? error.message}`);
  });
}

module.exports = { serveStdio };
