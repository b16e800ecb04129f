'use strict';

// Rollback and fallback (BEHAVIOUR.md §7): FIND_TOOLS_BACKEND=legacy spawns the legacy script (here a
// fixture that mimics its command line); a native binary that cannot load falls back to it, or
// to a clear error text.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { connectStdio, startHttpServer, connectHttp, untilLogged, LEGACY_FIXTURE, MISSING_AGENT_ID } = require('../helpers/server');

const LEGACY_ENV = { FIND_TOOLS_BACKEND: 'legacy', FIND_TOOLS_LEGACY_SCRIPT: LEGACY_FIXTURE };
// The napi-rs loader takes the binary from here when set; a missing file is a binary that cannot load.
const BROKEN_NATIVE = { NAPI_RS_NATIVE_LIBRARY_PATH: path.join(os.tmpdir(), 'letta-find-tools-missing.node') };

// The fixture's echo, as Python's json.dumps spells it.
const echoLine = (argv) =>
  `{"status": "success", "message": "legacy", "details": {"argv": [${argv.map((arg) => JSON.stringify(arg)).join(', ')}]}}`;

async function withStdio(env, body) {
  const server = await connectStdio(env);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

describe('FIND_TOOLS_BACKEND=legacy', () => {
  let server;
  beforeAll(async () => {
    server = await connectStdio({ ...LEGACY_ENV, FIND_TOOLS_PROCESS_TIMEOUT: '1000' });
  });
  afterAll(() => server.close());

  test('spawns the script with the legacy arguments and answers its last stdout line', async () => {
    const text = await server.call({
      query: 'search the web',
      agent_id: ' agent-1 ',
      keep_tools: ['a', 'b'],
      limit: '3.7',
      min_score: 40.5,
      request_heartbeat: 'True',
    });
    expect(text).toBe(
      echoLine([
        '--query', 'search the web',
        '--agent_id', 'agent-1',
        '--keep_tools', 'a,b',
        '--limit', '3',
        '--min_score', '40.5',
        '--request_heartbeat', 'true',
      ]),
    );
  });

  test('leaves out empty arguments and applies the defaults', async () => {
    expect(await server.call({ agent_id: 'agent-1', keep_tools: '' })).toBe(
      echoLine(['--agent_id', 'agent-1', '--limit', '10', '--min_score', '50']),
    );
  });

  test("the script's stderr goes to the server log, not to the agent", async () => {
    const text = await server.call({ query: 'q', agent_id: 'agent-1' });
    expect(text).not.toContain('legacy fixture: starting');
    await untilLogged(server.stderr, '[letta-find-tools-mcp] info: legacy script: legacy fixture: starting');
  });

  test('the agent id rules still apply', async () => {
    expect(await server.call({ query: 'q' })).toBe(
      MISSING_AGENT_ID,
    );
  });

  test('a script that exits non-zero answers its stderr in the legacy text', async () => {
    expect(await server.call({ query: 'fail', agent_id: 'agent-1' })).toBe(
      'Error executing find_tools: legacy fixture: starting\nTraceback: the tool selector exploded',
    );
  });

  test('a script that prints nothing answers the legacy text', async () => {
    expect(await server.call({ query: 'silent', agent_id: 'agent-1' })).toBe('find_tools completed with no output.');
  });

  test("the script's success line is a success; its failures and the agent id errors are flagged isError", async () => {
    expect((await server.callResult({ query: 'q', agent_id: 'agent-1' })).isError).toBeUndefined();
    for (const args of [{ query: 'fail', agent_id: 'agent-1' }, { query: 'silent', agent_id: 'agent-1' }, { query: 'q' }]) {
      const result = await server.callResult(args);
      expect([args, result.isError]).toEqual([args, true]);
    }
  });

  test('FIND_TOOLS_PROCESS_TIMEOUT below 5000 ms counts as 5000, and the start log says so', async () => {
    await untilLogged(server.stderr, `find_tools backend: legacy script: python3 ${LEGACY_FIXTURE} (killed after 5000 ms)`);
  });
});

test('a script still running after FIND_TOOLS_PROCESS_TIMEOUT is killed, with the legacy timeout text', async () => {
  await withStdio({ ...LEGACY_ENV, FIND_TOOLS_PROCESS_TIMEOUT: '5000' }, async (server) => {
    expect(await server.call({ query: 'slow', agent_id: 'agent-1' })).toBe(
      'The find_tools operation timed out. Please try again with narrower parameters.',
    );
  });
});

test('a script that cannot be spawned answers the legacy failure text', async () => {
  const emptyDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'no-python-'));
  try {
    await withStdio({ ...LEGACY_ENV, PATH: emptyDirectory }, async (server) => {
      expect(await server.call({ query: 'q', agent_id: 'agent-1' })).toBe('Failed to execute find_tools: spawn python3 ENOENT');
    });
  } finally {
    fs.rmSync(emptyDirectory, { recursive: true });
  }
});

test('FIND_TOOLS_BACKEND=legacy without a script starts and answers a clear error', async () => {
  await withStdio({ FIND_TOOLS_BACKEND: 'legacy' }, async (server) => {
    expect(await server.call({ query: 'q', agent_id: 'agent-1' })).toBe(
      'Error in find_tools: FIND_TOOLS_BACKEND=legacy is set but FIND_TOOLS_LEGACY_SCRIPT is not',
    );
  });
});

describe('a native binary that cannot load', () => {
  test('falls back to FIND_TOOLS_LEGACY_SCRIPT, logs why, and /health shows the legacy backend', async () => {
    const server = await startHttpServer({ ...BROKEN_NATIVE, FIND_TOOLS_LEGACY_SCRIPT: LEGACY_FIXTURE });
    const session = await connectHttp(server.url, { 'x-agent-id': 'agent-1' });
    try {
      expect(await session.call({ query: 'q' })).toBe(
        echoLine(['--query', 'q', '--agent_id', 'agent-1', '--limit', '10', '--min_score', '50']),
      );
      const health = await (await fetch(`${server.url}/health`)).json();
      expect(health).toMatchObject({ status: 'healthy', backend: 'legacy', legacyScript: LEGACY_FIXTURE });
      expect(server.stderr()).toMatch(/error: the native find_tools client cannot load on linux-x64: .*no native binary/);
      expect(server.stderr()).toContain('find_tools backend: legacy script');
    } finally {
      await session.close();
      await server.stop();
    }
  });

  test('without a legacy script, starts anyway and answers each call with a clear error', async () => {
    const server = await startHttpServer(BROKEN_NATIVE);
    const session = await connectHttp(server.url, { 'x-agent-id': 'agent-1' });
    try {
      expect(await session.call({ query: 'q' })).toBe(
        'Error in find_tools: the native find_tools client cannot load on this platform and no FIND_TOOLS_LEGACY_SCRIPT is set (see the server log)',
      );
      const response = await fetch(`${server.url}/health`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'unavailable', backend: 'unavailable' });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('letta_find_tools_backend_info{backend="unavailable"} 1');
      expect(metrics).toMatch(/^letta_find_tools_errors_total 1$/m);
    } finally {
      await session.close();
      await server.stop();
    }
  });
});
