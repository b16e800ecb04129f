'use strict';

// Every golden case through the built addon: same result line, byte for byte, and the same
// upstream requests (a fresh client per case, so its lookups must match too). legacy.json holds
// the cases recorded from the legacy script; ours.json the cases written here, each saying how it
// relates to legacy (docs/BEHAVIOUR.md).
const { ToolSelectorClient } = require('../..');
const { startGoldenUpstream, loadGoldens, envForCase, withTodaysLookupUrl, GOLDENS_PATH, OUR_GOLDENS_PATH } = require('../helpers/upstream');

const legacy = loadGoldens(GOLDENS_PATH);
const ours = loadGoldens(OUR_GOLDENS_PATH);
const upstreams = new Map();

beforeAll(async () => {
  upstreams.set(legacy, await startGoldenUpstream(legacy));
  upstreams.set(ours, await startGoldenUpstream(ours));
});

afterAll(async () => {
  await Promise.all([...upstreams.values()].map((upstream) => upstream.close()));
});

test('the oracle holds all 30 legacy cases', () => {
  expect(legacy.cases).toHaveLength(30);
});

test('each case of ours says how it relates to legacy', () => {
  for (const goldenCase of ours.cases) {
    expect(goldenCase.legacy).toEqual({ behaviour: expect.any(String), note: expect.any(String) });
    expect(Number.isInteger(goldenCase.issue_item)).toBe(true);
  }
  const names = ours.cases.map((c) => c.name);
  expect(new Set(names).size).toBe(names.length);
});

// The recorded legacy lookups went to the URLs the script used; ours.json says ours already.
async function runCase(goldens, goldenCase) {
  const upstream = upstreams.get(goldens);
  upstream.reset();
  upstream.setCase(goldenCase);
  const client = new ToolSelectorClient({ env: envForCase(goldenCase, upstream) });
  try {
    const line = await client.findTools(goldenCase.args);
    expect(line).toBe(goldenCase.expected_result);
    const expected = goldens === legacy ? goldenCase.expected_requests.map(withTodaysLookupUrl) : goldenCase.expected_requests;
    expect(upstream.requests).toEqual(expected);
  } finally {
    client.close();
  }
}

describe.each(legacy.cases.map((c) => [c.name, c]))('legacy golden %s', (_name, goldenCase) => {
  test('result line and upstream requests match legacy', () => runCase(legacy, goldenCase));
});

describe.each(ours.cases.map((c) => [c.name, c]))('our golden %s', (_name, goldenCase) => {
  test('result line and upstream requests as specified', () => runCase(ours, goldenCase));
});

test('a cached client repeats no lookup but sends the same attach request', async () => {
  const upstream = upstreams.get(legacy);
  const goldenCase = legacy.cases.find((c) => c.name === 'lookup-agent-none');
  upstream.setCase(goldenCase);
  const client = new ToolSelectorClient({ env: envForCase(goldenCase, upstream) });
  await client.findTools(goldenCase.args);
  upstream.reset();
  const line = await client.findTools(goldenCase.args);
  client.close();
  expect(line).toBe(goldenCase.expected_result);
  const attach = goldenCase.expected_requests.filter((r) => r.to === 'tool_selector');
  expect(upstream.requests).toEqual(attach);
});
