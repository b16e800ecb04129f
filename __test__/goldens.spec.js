'use strict';

// Every legacy golden case through the built addon: same result line, byte for byte, and the
// same upstream requests (a fresh client per case, so its lookups must match legacy's too).
const { ToolSelectorClient } = require('..');
const { startGoldenUpstream, loadGoldens, envForCase } = require('./helpers/upstream');

const goldens = loadGoldens();
let upstream;

beforeAll(async () => {
  upstream = await startGoldenUpstream(goldens);
});

afterAll(async () => {
  await upstream.close();
});

test('the oracle holds all 30 legacy cases', () => {
  expect(goldens.cases).toHaveLength(30);
});

describe.each(goldens.cases.map((c) => [c.name, c]))('golden %s', (_name, goldenCase) => {
  test('result line and upstream requests match legacy', async () => {
    upstream.reset();
    upstream.setCase(goldenCase);
    const client = new ToolSelectorClient({ env: envForCase(goldenCase, upstream) });
    try {
      const line = await client.findTools(goldenCase.args);
      expect(line).toBe(goldenCase.expected_result);
      expect(upstream.requests).toEqual(goldenCase.expected_requests);
    } finally {
      client.close();
    }
  });
});

test('a cached client repeats no lookup but sends the same attach request', async () => {
  const goldenCase = goldens.cases.find((c) => c.name === 'lookup-agent-none');
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
