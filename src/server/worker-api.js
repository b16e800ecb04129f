'use strict';

// POST /find_tools: the API of the worker service the PRD proposed (BEHAVIOUR.md §8), so that a
// deployment whose WORKER_SERVICE_URL pointed at the worker can point it here unchanged.

const { toWebRequest } = require('@modelcontextprotocol/node');
const { clientGoneSignal } = require('./client-gone');
const { sendJson, sendJsonText } = require('./respond');

// A result line goes out as it is, byte for byte (it may hold Python's NaN tokens, which
// JSON.parse refuses). The agent-id texts and the legacy script's own failure texts are not
// JSON; the worker answered every failure in the {status, message} shape.
function resultBody(text) {
  return text.startsWith('{') ? text : JSON.stringify({ status: 'error', message: text });
}

/**
 * (req, res) => Promise for POST /find_tools: findTools from tool.js, maxBodyBytes the same
 * limit /mcp has. The answer is the result object (200), or a JSON error (400, 413).
 */
function createWorkerApi({ findTools, maxBodyBytes }) {
  return async function handleFindTools(req, res) {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return sendJson(res, 405, { error: 'Method not allowed: POST a JSON object' });
    }
    let request;
    try {
      request = await toWebRequest(req, undefined, { maxRequestBodySize: maxBodyBytes });
    } catch (error) {
      if (error.name === 'RequestBodyTooLargeError') {
        res.setHeader('Connection', 'close');
        return sendJson(res, 413, { error: `Request body must not exceed ${maxBodyBytes} bytes` });
      }
      // A client that stops mid-upload has left: there is no one to answer, and nothing went wrong here.
      if (!req.complete) return undefined;
      throw error;
    }
    let args;
    try {
      args = JSON.parse(await request.text());
    } catch {
      return sendJson(res, 400, { error: 'Request body is not valid JSON' });
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      return sendJson(res, 400, { error: 'Request body must be a JSON object' });
    }
    const answered = await findTools(args, {
      header: req.headers['x-agent-id'],
      signal: clientGoneSignal(res),
      transport: 'http',
      route: '/find_tools',
    });
    if (answered.cancelled) return undefined;
    return sendJsonText(res, 200, resultBody(answered.text));
  };
}

module.exports = { createWorkerApi };
