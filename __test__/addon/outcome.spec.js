'use strict';

// findToolsOutcome tells JS how a call ended, as the native client decided it where the line
// was made; the exported argument defaults are the ones a call really sends.
const { execFile } = require('node:child_process');
const path = require('node:path');
const { promisify } = require('node:util');
const addon = require('../..');
const { startUpstream, answerAfter } = require('../helpers/upstream');
const { localClient } = require('../helpers/client');

const OK_BODY = '{"success": true, "message": "ok", "details": null}';
const OK_LINE = '{"status": "success", "message": "ok", "details": null}';
const TIMED_OUT = '{"status": "error", "message": "Tool attach request timed out."}';
const UNREACHABLE = '{"status": "error", "message": "Failed to contact tool selector API."}';

let upstream;
beforeAll(async () => {
  // The query picks the answer: success, a 500, an upstream-reported failure, or no answer in time.
  upstream = await startUpstream((req, res, body) => {
    const { query } = JSON.parse(body);
    if (query === 'ok') return res.end(OK_BODY);
    if (query === 'http-500') {
      res.writeHead(500);
      return res.end('boom');
    }
    if (query === 'refused') return res.end('{"success": false, "error": "no such agent"}');
    return answerAfter(res, 60000, () => res.end(OK_BODY));
  });
});
afterAll(() => upstream.close());

const client = () => localClient(upstream.url, { FIND_TOOLS_TOOL_ID: 'tool-ft' }, { timeout: 200 });

test.each([
  ['ok', OK_LINE, 'success'],
  ['http-500', '{"status": "error", "message": "HTTP 500"}', 'error'],
  ['refused', '{"status": "error", "message": "no such agent"}', 'error'],
  ['slow', TIMED_OUT, 'timeout'],
])('query %s: the line findTools gives, and its outcome', async (query, line, outcome) => {
  const c = client();
  const [plain, withOutcome] = await Promise.all([c.findTools({ query }), c.findToolsOutcome({ query })]);
  expect(plain).toBe(line);
  expect(withOutcome).toEqual({ result: line, outcome });
  c.close();
});

test('an unreachable upstream is an error outcome', async () => {
  const c = localClient('http://127.0.0.1:1', { FIND_TOOLS_TOOL_ID: 'tool-ft' });
  expect(await c.findToolsOutcome({ query: 'q' })).toEqual({ result: UNREACHABLE, outcome: 'error' });
  c.close();
});

test('findToolsOutcome rejects exactly when findTools does', async () => {
  const c = client();
  await expect(c.findToolsOutcome({ limit: {} })).rejects.toMatchObject({ name: 'TypeError', message: expect.stringMatching(/args\.limit/) });
  const controller = new AbortController();
  controller.abort();
  await expect(c.findToolsOutcome({}, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  c.close();
  await expect(c.findToolsOutcome({ query: 'ok' })).rejects.toThrow(/closed/);
});

test('the module-level findToolsOutcome runs on the default client, configured from the environment', async () => {
  // In a child process: the default client reads process.env once, at its first use.
  const script = `require(${JSON.stringify(path.join(__dirname, '..', '..'))}).findToolsOutcome({ query: 'ok' })
    .then((outcome) => process.stdout.write(JSON.stringify(outcome)))`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
    env: { PATH: process.env.PATH, TOOLS_API_BASE_URL: upstream.url, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', FIND_TOOLS_TOOL_ID: 't' },
  });
  expect(JSON.parse(stdout)).toEqual({ result: OK_LINE, outcome: 'success' });
});

test('DEFAULT_LIMIT and DEFAULT_MIN_SCORE are what a call without them sends', async () => {
  expect(addon.DEFAULT_LIMIT).toBe(10);
  expect(addon.DEFAULT_MIN_SCORE).toBe(50);
  const c = client();
  upstream.requests.length = 0;
  await c.findTools({ query: 'ok' });
  const sent = JSON.parse(upstream.requests.at(-1).body);
  expect(sent.limit).toBe(addon.DEFAULT_LIMIT);
  expect(sent.min_score).toBe(addon.DEFAULT_MIN_SCORE);
  c.close();
});
