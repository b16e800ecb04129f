'use strict';

// The measuring loop of both soaks (the direct one in soak-child.js, the server one in
// server-soak.js): a warm-up, a baseline RSS sample, then the calls in chunks with an RSS
// sample after each, every result compared with the first call's.

// Calls before the baseline sample: pools, caches, JIT and V8's young generation (which grows
// over the first ~20,000 calls here) reach their steady size first.
const WARMUP_FRACTION = 0.1;

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

/**
 * `call` resolves to a comparable result (the first one is what every later one must equal);
 * `rssBytes` (sync or async) samples the measured process's RSS after a collection in it.
 */
async function soakLoop({ call, calls, concurrency, samples, rssBytes }) {
  const expected = await call();
  const tally = { mismatches: 0, errors: 0 };
  const warmupCalls = Math.max(1, Math.round(calls * WARMUP_FRACTION));
  const rssBeforeWarmupBytes = await rssBytes();
  await callMany(call, expected, warmupCalls, concurrency, tally);
  const baselineBytes = await rssBytes();
  const chunk = Math.ceil(calls / samples);
  const curve = [];
  const started = process.hrtime.bigint();
  for (let done = 0; done < calls; done += chunk) {
    await callMany(call, expected, Math.min(chunk, calls - done), concurrency, tally);
    curve.push({ calls: Math.min(done + chunk, calls), rssBytes: await rssBytes() });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const endBytes = curve[curve.length - 1].rssBytes;
  return {
    expected,
    calls,
    concurrency,
    warmupCalls,
    rssBeforeWarmupBytes,
    baselineBytes,
    endBytes,
    growthBytes: endBytes - baselineBytes,
    peakBytes: Math.max(...curve.map((point) => point.rssBytes)),
    throughput: calls / seconds,
    curve,
    ...tally,
  };
}

module.exports = { soakLoop };
