'use strict';

const os = require('node:os');
const path = require('node:path');

/** The project's per-user cache folder for `name` (the Letta install, the other Nodes), kept between runs. */
function cacheDir(name) {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'letta-find-tools', name);
}

module.exports = { cacheDir };
