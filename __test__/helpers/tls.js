'use strict';

// A throwaway certificate authority and a server certificate for 127.0.0.1, made with the
// openssl command line, so TLS specs can run an https upstream that no system trusts.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeTestCertificates() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'letta-find-tools-tls-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=letta-find-tools test CA',
    '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key',
    '-out', 'server.csr'], dir);
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'server.ext', '-out', 'server.pem'], dir);
  const read = (name) => fs.readFileSync(path.join(dir, name));
  return {
    caPath: path.join(dir, 'ca.pem'),
    key: read('server.key'),
    cert: read('server.pem'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

module.exports = { makeTestCertificates };
