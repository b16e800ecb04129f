'use strict';

// The environment the Python paths read: the legacy variables, plus the bench CA for https
// (urllib and http.client verify against SSL_CERT_FILE through OpenSSL's default paths).

function pythonEnv({ toolSelectorUrl, lettaUrl, caFile }) {
  const env = {
    PATH: process.env.PATH,
    LANG: process.env.LANG || 'C.UTF-8',
    PYTHONIOENCODING: 'utf-8',
    // worker_hop.py imports legacy_find_tools.py: no __pycache__ left in bench/.
    PYTHONDONTWRITEBYTECODE: '1',
    TOOLS_API_BASE_URL: toolSelectorUrl,
    TOOLS_API_ALLOW_INSECURE_HTTP: 'true',
    LETTA_API_URL: lettaUrl,
  };
  if (caFile) env.SSL_CERT_FILE = caFile;
  return env;
}

module.exports = { pythonEnv };
