'use strict';

// Path 4: process per call, as the legacy MCP server did: python3 with the legacy flags, the
// last stdout line is the result. Sequential only.

const path = require('node:path');
const { execFile } = require('node:child_process');

const { CALL_ARGS } = require('../lib/payloads');
const { reapedChildrenCpuMicros } = require('../lib/proc');
const { pythonEnv } = require('./python-env');

const SCRIPT = path.join(__dirname, '..', 'children', 'legacy_find_tools.py');
const PROCESS_TIMEOUT_MS = 30_000;

function legacyFlags(args) {
  const flags = ['--query', args.query, '--agent_id', args.agent_id, '--keep_tools', args.keep_tools, '--limit', String(args.limit), '--min_score', String(args.min_score)];
  if (args.request_heartbeat) flags.push('--request_heartbeat', 'true');
  return flags;
}

function create(target) {
  const argv = [SCRIPT, ...legacyFlags(CALL_ARGS)];
  const env = pythonEnv(target);
  const call = () =>
    new Promise((resolve, reject) => {
      execFile('python3', argv, { env, timeout: PROCESS_TIMEOUT_MS }, (error, stdout, stderr) => {
        if (error) return reject(new Error(`legacy script failed: ${error.message} ${stderr}`));
        const lines = stdout.trim().split('\n');
        return resolve(lines[lines.length - 1]);
      });
    });
  return { call, helperCpuMicros: reapedChildrenCpuMicros, close: async () => {} };
}

module.exports = { create, modes: ['lookup'], sequentialOnly: true };
