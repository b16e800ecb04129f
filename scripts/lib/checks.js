'use strict';

// The check runner of the end-to-end scripts (test-install, test-container): TAP-like `ok` /
// `not ok` lines, every check run even after one fails, and the closing counts line.

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Runs each [name, check] in order on context; resolves to { passed, failed }. */
async function runChecks(checks, context) {
  let failed = 0;
  for (const [name, check] of checks) {
    try {
      await check(context);
      console.log(`ok - ${name}`);
    } catch (error) {
      failed += 1;
      console.log(`not ok - ${name}\n  ${error.message.replaceAll('\n', '\n  ')}`);
    }
  }
  return { passed: checks.length - failed, failed };
}

/** One word before the counts: the form CI's summary reader counts. Sets the exit code. */
function reportCounts(word, { passed, failed }) {
  console.log(`${word}: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

module.exports = { assert, runChecks, reportCounts };
