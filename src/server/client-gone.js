'use strict';

// An HTTP client that closes its connection before its answer is sent has given up: its call is
// cancelled (BEHAVIOUR.md §8). The SDK's own signal cannot be relied on for that: on the 2025
// path it follows the connection through a clone of the web Request, and in the undici Node
// ships a clone's signal stops following the original once the garbage collector has run. So the
// connection's own signal travels with the request's async context to the tool handler, whatever
// the SDK does with the request on the way.

const { AsyncLocalStorage } = require('node:async_hooks');

const servedConnection = new AsyncLocalStorage();

/** A signal aborted when res closes before all of it was sent. */
function clientGoneSignal(res) {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new DOMException('The client closed the connection', 'AbortError'));
  });
  return controller.signal;
}

/** Runs serve() (answering res) so that callSignal() within it follows res's connection. */
function serveWhileConnected(res, serve) {
  return servedConnection.run(clientGoneSignal(res), serve);
}

/**
 * The signal a call runs under: the SDK's, and, on HTTP, the connection's too. Over stdio there
 * is no served connection and the SDK's signal is returned as it is.
 */
function callSignal(sdkSignal) {
  const connectionSignal = servedConnection.getStore();
  return connectionSignal ? AbortSignal.any([sdkSignal, connectionSignal]) : sdkSignal;
}

module.exports = { clientGoneSignal, serveWhileConnected, callSignal };
