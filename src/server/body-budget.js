'use strict';

// How many bytes of request bodies the server holds at once, all connections together
// (SECURITY.md): each request reserves what its body may become before any of it is read, and
// keeps it until its answer is sent or its connection drops, so that many slow or unfinished
// uploads cannot grow the process's memory without bound.

class BodyBudget {
  #available;

  /** totalBytes for every body at once, maxBodyBytes the most one body may take. */
  constructor({ totalBytes, maxBodyBytes }) {
    this.#available = totalBytes;
    this.maxBodyBytes = maxBodyBytes;
  }

  /**
   * Reserves what req's body may take: its Content-Length (at most maxBodyBytes), or
   * maxBodyBytes for a chunked one. Returns the function that gives it back (call it once), or
   * undefined when the budget cannot cover it.
   */
  reserve(req) {
    const bytes = this.#bodyBound(req);
    if (bytes > this.#available) return undefined;
    this.#available -= bytes;
    return () => {
      this.#available += bytes;
    };
  }

  #bodyBound(req) {
    const length = req.headers['content-length'];
    // node:http refuses a request with both, or with a Content-Length that is not a number.
    if (length !== undefined) return Math.min(Number(length), this.maxBodyBytes);
    return req.headers['transfer-encoding'] === undefined ? 0 : this.maxBodyBytes;
  }
}

module.exports = { BodyBudget };
