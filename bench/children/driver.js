'use strict';

// One compared path in its own Node process (forked by run.js with BENCH_PATH set), so its CPU
// and RSS are its own. Holds one instance per target (case and mode) and runs phases on demand.

const { serveRpc } = require('../lib/ipc');
const { runPhase } = require('../lib/measure');
const { PATHS, pathModule } = require('../paths');

const pathName = process.env.BENCH_PATH;
const definition = PATHS[pathName];
const instances = new Map();

function instanceFor(key) {
  const entry = instances.get(key);
  if (!entry) throw new Error(`${pathName}: no target ${key}`);
  return entry;
}

function memory() {
  global.gc();
  let helperRssBytes = 0;
  for (const { instance } of instances.values()) {
    if (instance.helperRssBytes) helperRssBytes += instance.helperRssBytes();
  }
  return { rssBytes: process.memoryUsage().rss, helperRssBytes };
}

serveRpc({
  setup: async ({ key, target }) => {
    const instance = await pathModule(pathName).create(target, definition.options || {});
    instances.set(key, { instance, expected: null });
    return { workerUrl: instance.workerUrl };
  },
  // The first call of a target: its line becomes the one every timed call must return.
  verify: async ({ key }) => {
    const entry = instanceFor(key);
    entry.expected = await entry.instance.call();
    return entry.expected;
  },
  measure: ({ key, phase }) => {
    const { instance, expected } = instanceFor(key);
    return runPhase(instance, expected, phase);
  },
  memory,
  close: async () => {
    for (const { instance } of instances.values()) await instance.close();
    instances.clear();
  },
});
