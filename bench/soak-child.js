'use strict';

// One soak, in a fresh process started with --expose-gc: a long run of calls at a fixed number
// in flight, sampling RSS after a GC, so what is left is what the path keeps.

const { serveRpc } = require('./lib/ipc');
const { PATHS, pathModule } = require('./paths');

// Calls before the baseline sample: pools, caches, JIT and V8's young generation (which grows
// over the first ~20,000 calls here) reach their steady size first.
const WARMUP_FRACTION = 0.1;

function rssAfterGc() {
  global.gc();
  return process.memoryUsage().rss;
}

// A fresh signal per call, as the MCP SDK hands one to the server's tool handler for every call:
// whatever a path keeps of a signal shows here. Paths that take no options ignore it.
const withFreshSignal = (call) => () => call({ signal: new AbortController().signal });

async function callMany(call, expected, count, concurrency, tally) {
  let remaining = count;
  const loop = async () => {
    while (remaining > 0) {
      remaining -= 1;
      try {
        if ((await call()) !== expected) tally.mismatches += 1;
      } catch {
        tally.errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

async function soak({ target, calls, concurrency, samples }) {
  const name = process.env.BENCH_PATH;
  const instance = await pathModule(name).create(target, PATHS[name].options || {});
  const call = withFreshSignal(instance.call);
  const expected = await call();
  const tally = { mismatches: 0, errors: 0 };
  const warmupCalls = Math.max(1, Math.round(calls * WARMUP_FRACTION));
  const rssBeforeWarmupBytes = rssAfterGc();
  await callMany(call, expected, warmupCalls, concurrency, tally);
  const baselineBytes = rssAfterGc();
  const chunk = Math.ceil(calls / samples);
  const curve = [];
  const started = process.hrtime.bigint();
  for (let done = 0; done < calls; done += chunk) {
    await callMany(call, expected, Math.min(chunk, calls - done), concurrency, tally);
    curve.push({ calls: Math.min(done + chunk, calls), rssBytes: rssAfterGc() });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const connectionsOpened = instance.connectionsOpened ? instance.connectionsOpened() : null;
  await instance.close();
  const endBytes = curve[curve.length - 1].rssBytes;
  return {
    path: name,
    calls,
    concurrency,
    warmupCalls,
    rssBeforeWarmupBytes,
    baselineBytes,
    endBytes,
    growthBytes: endBytes - baselineBytes,
    peakBytes: Math.max(...curve.map((point) => point.rssBytes)),
    throughput: calls / seconds,
    connectionsOpened,
    curve,
    ...tally,
  };
}

serveRpc({ soak });
