// Evaluated by the addon once per JS thread (src/abort.rs), never required: the listeners it
// puts on callers' AbortSignals are plain closures kept in a Map under the call's id, so that a
// call with a signal makes no Node-API function, reference or finalizer of its own
// (BENCHMARKS.md has the cost of each way). `abortCall` is the addon's one native function of
// this thread: it wakes the call with that id.
// An expression, not a declaration: the script's value is the function, and no global is made.
// oxlint-disable-next-line no-unused-expressions
(function abortListeners(abortCall) {
  'use strict';
  const listening = new Map();
  return {
    // A throw (a throwing getter, a Proxy trap) reaches the addon, which rejects the call with it.
    listen(signal, id) {
      const listener = () => abortCall(id);
      signal.addEventListener('abort', listener);
      listening.set(id, { signal, listener });
    },
    // The signal the call listened to, for a last read of its reason; undefined if none.
    unlisten(id) {
      const entry = listening.get(id);
      if (entry === undefined) return undefined;
      listening.delete(id);
      try {
        entry.signal.removeEventListener('abort', entry.listener);
      } catch {
        // The call's result stands, as if no signal had been given.
      }
      return entry.signal;
    },
  };
});
