'use strict';

// The specs against a real Letta, run only by `npm run test:letta` (scripts/test-letta.js starts
// Letta and sets LETTA_TEST_API_URL); their names do not match `npm test`'s *.spec.js.
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__test__/letta/*.letta.js'],
  // Letta starts our stdio server for every call; a call is seconds, a spec file many calls.
  testTimeout: 120000,
  verbose: true,
  reporters: ['default', '<rootDir>/__test__/summary-reporter.js'],
};
