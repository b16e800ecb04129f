'use strict';

// The addon's warnings: onWarning(listener) takes them, from the JS thread (at once) and from
// the runtime's threads alike, without keeping the process alive; with no listener they are text
// lines on stderr. Each case runs in its own Node process: warnings are deduplicated per
// process and the listener is process-wide, so a spec process that warned before would hide them.
const { runNode } = require('../helpers/child');
const path = require('node:path');
const { startRawUpstream, head } = require('../fixtures/hostile-upstream');

const ADDON = path.join(__dirname, '..', '..');
const OK_BODY = JSON.stringify({ success: true, message: 'ok', details: { a: 1 } });
const TIMEOUT_WARNING = 'TOOLS_API_TIMEOUT must be a number of seconds > 0; using the default';

/** Runs `script` (the addon is `addon`, `url` an upstream) in a fresh Node; resolves to its exit and output. */
function runScript(script, env = {}) {
  const prelude = `const addon = require(${JSON.stringify(ADDON)}); const url = process.env.UPSTREAM_URL;\n`;
  return runNode(['-e', prelude + script], { env });
}

const CLIENT_WITH_BAD_TIMEOUT = `new addon.ToolSelectorClient({
  env: { TOOLS_API_BASE_URL: 'http://127.0.0.1:9', TOOLS_API_ALLOW_INSECURE_HTTP: 'true', TOOLS_API_TIMEOUT: 'abc' },
});`;

test('without a listener a warning is a text line on stderr, once', async () => {
  const { code, stdout, stderr } = await runScript(`${CLIENT_WITH_BAD_TIMEOUT}\n${CLIENT_WITH_BAD_TIMEOUT}`);
  expect(code).toBe(0);
  expect(stdout).toBe('');
  expect(stderr).toBe(`[letta-find-tools] warning: ${TIMEOUT_WARNING}\n`);
});

test('onWarning receives the bare message once instead of stderr, and does not keep the process alive', async () => {
  // The process ends by itself: nothing but the (weak) listener is left once it has heard.
  const { code, stdout, stderr } = await runScript(`
    addon.onWarning((message) => console.log(JSON.stringify(message)));
    ${CLIENT_WITH_BAD_TIMEOUT}
    ${CLIENT_WITH_BAD_TIMEOUT}`);
  expect(code).toBe(0);
  expect(stdout).toBe(`${JSON.stringify(TIMEOUT_WARNING)}\n`);
  expect(stderr).toBe('');
});

test('a warning the listener throws on goes to stderr, and the client is still built', async () => {
  const { code, stdout, stderr } = await runScript(`
    addon.onWarning(() => { throw new Error('listener broke'); });
    ${CLIENT_WITH_BAD_TIMEOUT}
    console.log('built');`);
  expect(code).toBe(0);
  expect(stdout).toBe('built\n');
  expect(stderr).toBe(`[letta-find-tools] warning: ${TIMEOUT_WARNING}\n`);
});

test('a warning raised on a runtime thread (the silent-closer switch) reaches the listener', async () => {
  // Answers, then closes the connection without saying so: the client learns it and warns.
  const upstream = await startRawUpstream((socket) =>
    socket.end(head(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(OK_BODY) }) + OK_BODY),
  );
  try {
    const { code, stdout, stderr } = await runScript(
      `
      const heard = [];
      addon.onWarning((message) => heard.push(message));
      const client = new addon.ToolSelectorClient({
        env: { TOOLS_API_BASE_URL: url, LETTA_API_URL: url, TOOLS_API_ALLOW_INSECURE_HTTP: 'true', FIND_TOOLS_TOOL_ID: 'tool-ft' },
      });
      (async () => {
        for (let i = 0; i < 20 && heard.length === 0; i += 1) {
          await client.findTools({ query: 'q' + i });
          await new Promise((resolve) => setImmediate(resolve));
        }
        client.close();
        console.log(JSON.stringify(heard));
      })();`,
      { UPSTREAM_URL: upstream.url },
    );
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const heard = JSON.parse(stdout);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatch(/closed \d+ connections right after answering without saying so/);
  } finally {
    await upstream.close();
  }
});
