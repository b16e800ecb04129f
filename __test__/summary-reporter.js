'use strict';

// Prints the plain closing line CI systems read ("jest: N passed, N failed"); jest's own
// summary says "N total" instead of the failures. Written at exit so that it comes last, after
// the summary jest prints once every reporter has run.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed${tail}\n`;
    process.once('exit', () => process.stderr.write(line));
  }
}

module.exports = SummaryReporter;
