'use strict';

// The loop trigger (docs/BEHAVIOUR.md §9) where the golden cases cannot reach: a Letta API on
// https, the client option, an agent id that is no path segment. The golden cases
// (fixtures/goldens/ours.json) hold the message, payload, headers and loop_triggered key.
const { startUpstream } = require('../helpers/upstream');
const { localClient } = require('../helpers/client');

const ATTACHED = JSON.stringify({ success: true, message: 'm', details: { successful_attachments: [{ name: 'a' }] } });
const line = (triggered) =>
  `{"status": "success", "message": "m", "details": {"successful_attachments": [{"name": "a"}]}, "loop_triggered": ${triggered}}`;

let selector;
let letta;

beforeAll(async () => {
  selector = await startUpstream((req, res) => res.end(ATTACHED));
  letta = await startUpstream((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"messages": []}');
  });
});

afterAll(async () => {
  await Promise.all([selector.close(), letta.close()]);
});

beforeEach(() => {
  selector.requests.length = 0;
  letta.requests.length = 0;
});

const clientWith = (env, options) =>
  localClient(selector.url, { FIND_TOOLS_TOOL_ID: 'tool-ft', LETTA_API_URL: letta.url, ...env }, options);

test('the triggerLoop option turns it on, and wins over the environment', async () => {
  const on = clientWith({ FIND_TOOLS_TRIGGER_LOOP: 'false' }, { triggerLoop: true });
  const off = clientWith({ FIND_TOOLS_TRIGGER_LOOP: 'true' }, { triggerLoop: false });
  try {
    expect(await on.findTools({ agent_id: 'agent-1' })).toBe(line(true));
    expect(letta.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v1/agents/agent-1/messages']);
    expect(await off.findTools({ agent_id: 'agent-1' })).toBe(line(false).replace(', "loop_triggered": false', ''));
    expect(letta.requests).toHaveLength(1);
  } finally {
    on.close();
    off.close();
  }
});

test('a Letta API on https that fails the handshake: false, and the Bearer token never goes out over plain http', async () => {
  const https = letta.url.replace('http://', 'https://');
  const client = clientWith({ FIND_TOOLS_TRIGGER_LOOP: 'true', LETTA_API_URL: https, LETTA_PASSWORD: 'letta-secret' });
  try {
    const connectionsBefore = letta.connections();
    expect(await client.findTools({ agent_id: 'agent-1' })).toBe(line(false));
    // It tried (a TLS handshake reached the plain server), and no HTTP request followed.
    expect(letta.connections()).toBeGreaterThan(connectionsBefore);
    expect(letta.requests).toEqual([]);
  } finally {
    client.close();
  }
});

test('an agent id that cannot be one path segment: false, nothing sent', async () => {
  const client = clientWith({ FIND_TOOLS_TRIGGER_LOOP: 'true' });
  try {
    expect(await client.findTools({ agent_id: '..' })).toBe(line(false));
    expect(letta.requests).toEqual([]);
    expect(JSON.parse(selector.requests[0].body).agent_id).toBe('..');
  } finally {
    client.close();
  }
});

test('the agent id is one encoded path segment of the message URL', async () => {
  const client = clientWith({ FIND_TOOLS_TRIGGER_LOOP: 'true' });
  try {
    expect(await client.findTools({ agent_id: '../tools?x' })).toBe(line(true));
    expect(letta.requests.map((r) => r.path)).toEqual(['/v1/agents/..%2Ftools%3Fx/messages']);
  } finally {
    client.close();
  }
});
