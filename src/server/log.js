'use strict';

// The server's log, on stderr: in stdio mode stdout carries nothing but the MCP protocol.
// LOG_FORMAT=text (the default) writes `[letta-find-tools-mcp] level: message` lines for
// people; LOG_FORMAT=json one JSON object per line ({time, level, message, ...fields}) for a
// log pipeline. On Linux Node writes stderr synchronously (file, pipe or terminal), so no line
// is lost to the process.exit that ends a shutdown.

const TEXT_PREFIX = '[letta-find-tools-mcp]';
const FORMATS = ['text', 'json'];

let format = 'text';

function write(level, message, fields) {
  const line =
    format === 'json'
      ? JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })
      : `${TEXT_PREFIX} ${level}: ${message}`;
  process.stderr.write(`${line}\n`);
}

/** Reads LOG_FORMAT; an unknown value is a warning, and text. */
function configure(env = process.env) {
  const value = (env.LOG_FORMAT ?? '').trim().toLowerCase();
  format = FORMATS.includes(value) ? value : 'text';
  if (value !== '' && format !== value) {
    write('warning', `LOG_FORMAT='${env.LOG_FORMAT}' is neither text nor json; using text`);
  }
}

module.exports = {
  configure,
  info: (message, fields) => write('info', message, fields),
  warn: (message, fields) => write('warning', message, fields),
  error: (message, fields) => write('error', message, fields),
  /**
   * Whether find_tools calls get a line: in json always, in text only when `inText` (a text log
   * is read by people, and many MCP clients show a stdio server's stderr in their own log, line
   * by line). Asked first, so that a call that is not logged builds nothing for it.
   */
  logsCalls(inText = false) {
    return format === 'json' || inText;
  },
  /** The line of one find_tools call (see logsCalls). */
  call(fields) {
    if (format === 'json') return write('info', 'find_tools call', fields);
    const details = Object.entries(fields)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `${name}=${value}`);
    return write('info', `find_tools call: ${details.join(' ')}`);
  },
};
