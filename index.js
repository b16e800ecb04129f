'use strict';

// The package entry: the loader napi-rs generates (binding.js) picks the binary built for this
// platform. When none fits, say which platform that was and how to get a binary, instead of
// the loader's generic message.
const { loadBinding } = require('./load-binding.js');

module.exports = loadBinding(() => require('./binding.js'));
