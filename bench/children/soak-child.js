'use strict';

// One soak, in a fresh process started with --expose-gc: a long run of calls at a fixed number
// in flight, sampling RSS after a GC, so what is left is what the path keeps.

const { serveRpc } = require('../lib/ipc');
const { PATHS, pathModule } = require('../paths');
const { soakLoop } = require('../lib/soak');

function rssAfterGc() {
  global.gc();
  return process.memoryUsage().rss;
}

// A fresh signal per call, as the MCP SDK hands one to the server's tool handler for every call:
// whatever a path keeps of a signal shows here. Paths that take no options ignore it.
const withFreshSignal = (call) => () => call({ signal: new AbortController().signal });

async function soak({ target, calls, concurrency, samples }) {
  const name = process.env.BENCH_PATH;
  const instance = await pathModule(name).create(target, PATHS[name].options || {});
  const { expected: _expected, ...result } = await soakLoop({
    call: withFreshSignal(instance.call),
    calls,
    concurrency,
    samples,
    rssBytes: rssAfterGc,
  });
  const connectionsOpened = instance.connectionsOpened ? instance.connectionsOpened() : null;
  await instance.close();
  return { path: name, ...result, connectionsOpened };
}

serveRpc({ soak });
