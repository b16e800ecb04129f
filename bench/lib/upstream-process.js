'use strict';

// Starts bench/children/upstream.js in its own process and describes where each service listens.

const path = require('node:path');

const { pin } = require('./affinity');
const { forkWithRpc } = require('./ipc');

const UPSTREAM_SCRIPT = path.join(__dirname, '..', 'children', 'upstream.js');

/** The attach prefix selects how many tools the upstream's answer lists (payload size). */
function attachPrefix(attachments) {
  return attachments === undefined ? '' : `/p/${attachments}`;
}

async function startUpstream({ certificates, cpus } = {}) {
  const env = { ...process.env };
  if (certificates) {
    env.BENCH_TLS_CERT = certificates.certFile;
    env.BENCH_TLS_KEY = certificates.keyFile;
  }
  const upstream = await forkWithRpc(UPSTREAM_SCRIPT, { env });
  pin(upstream.child.pid, cpus);
  const ports = await upstream.call('ports');
  return {
    ...upstream,
    /** Base URLs for one scheme; `attachments` picks the payload size. */
    urls(scheme, attachments) {
      const secure = scheme === 'https';
      const toolSelectorPort = secure ? ports.toolSelectorHttps : ports.toolSelectorHttp;
      const lettaPort = secure ? ports.lettaHttps : ports.lettaHttp;
      if (toolSelectorPort === undefined) throw new Error(`the upstream has no ${scheme} listener`);
      return {
        toolSelectorUrl: `${scheme}://127.0.0.1:${toolSelectorPort}${attachPrefix(attachments)}`,
        lettaUrl: `${scheme}://127.0.0.1:${lettaPort}/v1`,
      };
    },
    /** TCP connections accepted so far, per server ({ toolSelectorHttp: n, ... }). */
    async acceptedByServer() {
      const { counters } = await upstream.call('counters');
      return Object.fromEntries(Object.entries(counters).map(([name, server]) => [name, server.accepted]));
    },
    /** TCP connections accepted so far, all servers together. */
    async connectionsAccepted() {
      const accepted = await this.acceptedByServer();
      return Object.values(accepted).reduce((sum, count) => sum + count, 0);
    },
  };
}

module.exports = { startUpstream };
