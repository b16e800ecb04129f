'use strict';

// The rollback path (BEHAVIOUR.md §7): one `python3 <script>` per call, as the legacy server ran it,
// with the legacy texts for its failures (BEHAVIOUR.md §6).

const { spawn } = require('node:child_process');
const log = require('./log');
const { defaultOf } = require('./arguments');

const TIMEOUT_TEXT = 'The find_tools operation timed out. Please try again with narrower parameters.';
// What the script itself prints when its attach request times out.
const SCRIPT_TIMEOUT_MESSAGE = 'Tool attach request timed out.';
const NO_OUTPUT_TEXT = 'find_tools completed with no output.';

// The listed defaults and BEHAVIOUR.md §1's flooring; the script clamps to its own FIND_TOOLS_MAX_LIMIT.
function finiteNumber(value) {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return NaN;
  return Number(value);
}

function limitOf(value) {
  const limit = finiteNumber(value);
  return Number.isFinite(limit) ? Math.floor(limit) : defaultOf('limit');
}

function minScoreOf(value) {
  const minScore = finiteNumber(value);
  return Number.isFinite(minScore) ? minScore : defaultOf('min_score');
}

function heartbeatOf(value) {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

/** The legacy command line; a flag without a value crashed the script, so empty ones are left out. */
function legacyArguments(args) {
  const keepTools = Array.isArray(args.keep_tools) ? args.keep_tools.join(',') : args.keep_tools;
  const argv = [];
  if (args.query) argv.push('--query', args.query);
  if (args.agent_id) argv.push('--agent_id', args.agent_id);
  if (keepTools) argv.push('--keep_tools', keepTools);
  argv.push('--limit', String(limitOf(args.limit)), '--min_score', String(minScoreOf(args.min_score)));
  if (heartbeatOf(args.request_heartbeat)) argv.push('--request_heartbeat', 'true');
  return argv;
}

/** How the script's answer went: 'success', 'timeout' or 'error' (texts of our own are errors). */
function outcomeOf(text) {
  if (text === TIMEOUT_TEXT) return 'timeout';
  try {
    const { status, message } = JSON.parse(text);
    if (status === 'success') return 'success';
    return message === SCRIPT_TIMEOUT_MESSAGE ? 'timeout' : 'error';
  } catch {
    return 'error';
  }
}

function lastLine(text) {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.at(-1) ?? '';
}

// The script's stderr once went into the agent's context; it belongs in the server's log.
function logScriptStderr(stderr) {
  for (const line of stderr.split('\n')) {
    if (line.trim()) log.info(`legacy script: ${line.trimEnd()}`);
  }
}

/**
 * Runs the script for args (already coerced by the tool handler) and resolves to {text, outcome}:
 * the text the agent sees and how it went; never rejects except when signal aborts, which also
 * kills the script.
 */
function runLegacyScript(script, args, { timeoutMs, signal }) {
  return answerText(script, args, { timeoutMs, signal }).then((text) => ({ text, outcome: outcomeOf(text) }));
}

function answerText(script, args, { timeoutMs, signal }) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome(value);
    };
    let child;
    try {
      child = spawn('python3', [script, ...legacyArguments(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      return resolve(`Failed to execute find_tools: ${error.message}`);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = () => {
      child.kill('SIGKILL');
      settle(reject, signal.reason);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });

    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) => settle(resolve, `Failed to execute find_tools: ${error.message}`));
    child.on('close', (code, killSignal) => {
      logScriptStderr(stderr);
      if (timedOut) return settle(resolve, TIMEOUT_TEXT);
      if (code !== 0) {
        return settle(resolve, `Error executing find_tools: ${stderr.trim() || `exited with ${code ?? killSignal}`}`);
      }
      settle(resolve, lastLine(stdout) || NO_OUTPUT_TEXT);
    });
  });
}

module.exports = { runLegacyScript };
