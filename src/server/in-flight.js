'use strict';

// Counts the tool calls being answered, so that shutdown can let them finish.

class InFlight {
  #count = 0;
  #waiters = new Set();

  get size() {
    return this.#count;
  }

  enter() {
    this.#count += 1;
  }

  leave() {
    this.#count -= 1;
    if (this.#count === 0) for (const wake of this.#waiters) wake(true);
  }

  async run(work) {
    this.enter();
    try {
      return await work();
    } finally {
      this.leave();
    }
  }

  /** Resolves true once nothing is in flight, or false after timeoutMs. */
  whenIdle(timeoutMs) {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle) => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve(idle);
      };
      const timer = setTimeout(done, timeoutMs, false);
      this.#waiters.add(done);
    });
  }
}

module.exports = { InFlight };
