'use strict';

// An HTTP client that closes its connection before its answer is sent has given up: its call is
// cancelled (BEHAVIOUR.md §8). The SDK's own signal cannot be relied on for that: on the 2025
// path it follows the connection through a clone of the web Request, and in the undici Node
// ships a clone's signal stops following the original once the garbage collector has run. So
// each web Request handed to the SDK is tied to its connection's own signal, and handed with its
// body already parsed, which keeps the SDK from cloning it: the tool handler gets that very
// Request as ctx.http.req. (An AsyncLocalStorage would carry the signal whatever object reaches
// the handler, but it hooks every promise of the process: about 10% on a tools/call's median.)

const connectionSignals = new WeakMap();

/** A signal aborted when res closes before all of it was sent. */
function clientGoneSignal(res) {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new DOMException('The client closed the connection', 'AbortError'));
  });
  return controller.signal;
}

// The body as JSON; undefined when there is none or it is not JSON (the SDK reads it, and answers).
async function jsonBodyOf(request) {
  if (request.body === null) return undefined;
  try {
    return JSON.parse(await request.clone().text());
  } catch {
    return undefined;
  }
}

/** The web handler answering as handler does, every Request it gets tied to res's connection. */
function tiedToConnection(handler, res) {
  return {
    async fetch(request, options) {
      connectionSignals.set(request, clientGoneSignal(res));
      const parsedBody = await jsonBodyOf(request);
      return handler.fetch(request, parsedBody === undefined ? options : { ...options, parsedBody });
    },
  };
}

/**
 * The signal a call runs under: the SDK's, and the connection's of the HTTP request it came by
 * (ctx.http.req; none over stdio).
 */
function callSignal(sdkSignal, httpRequest) {
  const connectionSignal = httpRequest && connectionSignals.get(httpRequest);
  return connectionSignal ? AbortSignal.any([sdkSignal, connectionSignal]) : sdkSignal;
}

module.exports = { clientGoneSignal, tiedToConnection, callSignal };
