'use strict';

// Optional bearer auth for /mcp and /find_tools (BEHAVIOUR.md §8), with the SDK's bearer check and
// challenge; the token is compared in constant time and never logged.

const { createHash, timingSafeEqual } = require('node:crypto');
const { verifyBearerToken, bearerAuthChallengeResponse, OAuthError, OAuthErrorCode } = require('@modelcontextprotocol/server');

// Digests have one length whatever the token's, so the comparison says nothing about it.
const digest = (text) => createHash('sha256').update(text, 'utf8').digest();

function staticTokenVerifier(expected) {
  const expectedDigest = digest(expected);
  return {
    async verifyAccessToken(token) {
      if (!timingSafeEqual(digest(token), expectedDigest)) {
        throw new OAuthError(OAuthErrorCode.InvalidToken, 'Invalid token');
      }
      // A static token has no client, no scopes and no expiry.
      return { token, clientId: 'static-token', scopes: [], expiresAt: Number.POSITIVE_INFINITY };
    },
  };
}

async function sendResponse(res, response) {
  const body = await response.text();
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(body);
}

/**
 * async (req, res) => boolean: true when the request may go on; false once it has been
 * answered 401 with a WWW-Authenticate: Bearer challenge. Without a token there is no gate
 * (undefined): everything passes, without a wait.
 */
function createAuthGate(token) {
  if (!token) return undefined;
  const options = { verifier: staticTokenVerifier(token) };
  return async (req, res) => {
    try {
      await verifyBearerToken(req.headers.authorization, options);
      return true;
    } catch (error) {
      await sendResponse(res, bearerAuthChallengeResponse(error, options));
      return false;
    }
  };
}

module.exports = { createAuthGate };
