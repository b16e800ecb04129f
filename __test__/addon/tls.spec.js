'use strict';

// TLS through rustls: bundled roots only by default, plus the certificates in
// NODE_EXTRA_CA_CERTS, the way Node itself honours that variable.
const https = require('node:https');
const { ToolSelectorClient } = require('../..');
const { makeTestCertificates } = require('../helpers/tls');

const OK_BODY = JSON.stringify({ success: true, message: 'over tls', details: null });
let certificates;
let server;
let baseUrl;
const seen = [];

beforeAll(async () => {
  certificates = makeTestCertificates();
  server = https.createServer({ key: certificates.key, cert: certificates.cert }, (req, res) => {
    seen.push(req.url);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(OK_BODY);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${server.address().port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  certificates.remove();
});

const clientWith = (env) =>
  new ToolSelectorClient({ env: { TOOLS_API_BASE_URL: baseUrl, FIND_TOOLS_TOOL_ID: 't', TOOLS_API_TIMEOUT: '5', ...env } });

test('a self-signed upstream is refused by default', async () => {
  const client = clientWith({});
  expect(await client.findTools({})).toBe('{"status": "error", "message": "Failed to contact tool selector API."}');
  expect(seen).toHaveLength(0);
  client.close();
});

test('the same upstream is trusted through NODE_EXTRA_CA_CERTS', async () => {
  const client = clientWith({ NODE_EXTRA_CA_CERTS: certificates.caPath });
  expect(await client.findTools({})).toBe('{"status": "success", "message": "over tls", "details": null}');
  expect(await client.findTools({})).toBe('{"status": "success", "message": "over tls", "details": null}');
  expect(seen).toEqual(['/api/v1/tools/attach', '/api/v1/tools/attach']);
  expect(client.stats().connectionsOpened).toBe(1);
  client.close();
});

test('an unreadable NODE_EXTRA_CA_CERTS is ignored, as Node ignores it', async () => {
  const client = clientWith({ NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' });
  expect(await client.findTools({})).toBe('{"status": "error", "message": "Failed to contact tool selector API."}');
  client.close();
});
