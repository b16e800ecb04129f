'use strict';

// Host and Origin checks in front of every route (BEHAVIOUR.md §8), with the SDK's guards for
// plain node:http: they answer a refused request with 403 themselves.

const net = require('node:net');
const { hostHeaderValidation, originValidation } = require('@modelcontextprotocol/node');
const { localhostAllowedHostnames } = require('@modelcontextprotocol/server');

function isLoopback(host) {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  return net.isIPv6(bare) && (bare === '::1' || bare.startsWith('::ffff:127.'));
}

// The SDK's guard compares host names, port-agnostic; users naturally write whole origins.
function originHostname(entry) {
  return /^https?:\/\//i.test(entry) ? new URL(entry).hostname : entry;
}

/**
 * (req, res) => boolean for a server bound to host: false means refused (already answered).
 * Bound to loopback, only loopback Host names pass (what stops DNS rebinding) and only loopback
 * origins, as the SDK's localhost guards have it, plus allowedHosts and allowedOrigins. Bound
 * beyond it, the Host is checked only when allowedHosts names some, and only allowedOrigins
 * pass. A request without an Origin passes: server-side clients send none, browsers always do.
 */
function createRequestGuard({ host, allowedHosts, allowedOrigins }) {
  const loopback = isLoopback(host) ? localhostAllowedHostnames() : [];
  const checkOrigin = originValidation([...loopback, ...allowedOrigins.map(originHostname)]);
  const checkHost =
    loopback.length > 0 || allowedHosts.length > 0
      ? hostHeaderValidation([...localhostAllowedHostnames(), ...allowedHosts])
      : () => true;
  return (req, res) => checkHost(req, res) && checkOrigin(req, res);
}

module.exports = { createRequestGuard, isLoopback };
