'use strict';

// JSON answers of the HTTP surface written by the server itself (not the SDK's): /health,
// refusals, and POST /find_tools.

/** Sends text, already JSON (a result line may hold Python's NaN tokens), as the whole answer. */
function sendJsonText(res, status, text, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendJson(res, status, value, headers = {}) {
  sendJsonText(res, status, JSON.stringify(value), headers);
}

module.exports = { sendJson, sendJsonText };
