'use strict';

// The request target in the form the routes and the Host guard read (BEHAVIOUR.md §8). A client
// may send the absolute form (`POST http://host/find_tools`), which RFC 9112 §3.2.2 says a server
// must accept, taking the host from the target and ignoring Host.

/**
 * Rewrites an absolute-form target of req to the origin form (its path and query), with the
 * target's authority as req's Host. False when the target is neither form, or not http(s).
 */
function toOriginForm(req) {
  if (req.url.startsWith('/')) return true;
  let target;
  try {
    target = new URL(req.url);
  } catch {
    return false;
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return false;
  req.url = `${target.pathname}${target.search}`;
  req.headers.host = target.host;
  return true;
}

module.exports = { toOriginForm };
