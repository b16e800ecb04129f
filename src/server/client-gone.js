'use strict';

// An HTTP client that closes its connection before its answer is sent has given up: its call is
// cancelled (BEHAVIOUR.md §8). The SDK's own signal cannot be relied on for that: on the 2025
// path it follows the connection through a clone of the web Request, and in the undici Node
// ships a clone's signal stops following the original once the garbage collector has run. So
// each web Request handed to the SDK is tied to its connection's own signal, and handed with its
// body already parsed, which keeps the SDK from cloning it: the tool handler gets that very
// Request as ctx.http.req. (An AsyncLocalStorage would carry the signal whatever object reaches
// the handler, but it hooks every promise of the process: about 12% more server CPU a call.)

const connectionSignals = new WeakMap();

/** A signal aborted when res closes before all of it was sent. */
function clientGoneSignal(res) {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new DOMException('The client closed the connection', 'AbortError'));
  });
  return controller.signal;
}

function tied(request, signal) {
  connectionSignals.set(request, signal);
  return request;
}

/**
 * The web handler answering as handler does, every Request it gets tied to signal (res's
 * clientGoneSignal). The body is read without a clone (a tee costs about 5% of a call's server
 * CPU); one that is not JSON goes on as text in a new Request, for the SDK to answer as it
 * answers such bodies. It holds the signal, never res: undici keeps what a Request's parent
 * signal reaches (this handler among it) until a FinalizationRegistry callback after the
 * Request is collected, and holding res there kept every response one collection longer
 * (about 15 MB more RSS at 32 calls in flight).
 */
function tiedToConnection(handler, signal) {
  return {
    async fetch(request, options) {
      if (request.body === null) return handler.fetch(tied(request, signal), options);
      const text = await request.text();
      let parsedBody;
      try {
        parsedBody = JSON.parse(text);
      } catch {
        return handler.fetch(tied(new Request(request, { method: request.method, body: text }), signal), options);
      }
      return handler.fetch(tied(request, signal), { ...options, parsedBody });
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
