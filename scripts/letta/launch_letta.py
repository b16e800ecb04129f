"""Starts Letta's REST server on 127.0.0.1 for `npm run test:letta`, letting MCP URLs on loopback through.

Letta 0.16.7 and later refuse MCP server URLs on loopback and private addresses, at registration
and again on every call. The test's MCP server listens on 127.0.0.1 only, so this process replaces
that check, in memory and for 127.0.0.1 alone, before Letta's app is imported; every other URL
still goes through Letta's own check. Nothing is written to Letta's files.

Usage: python launch_letta.py <port>
"""

import ipaddress
import sys
from urllib.parse import urlparse

import letta.helpers.url_validation as url_validation

letta_validate_mcp_server_url = url_validation.validate_mcp_server_url


def validate_mcp_server_url_allowing_loopback(url, *, resolve_hostname=True):
    hostname = urlparse(url).hostname if url else None
    try:
        if hostname and ipaddress.ip_address(hostname) == ipaddress.ip_address("127.0.0.1"):
            return url
    except ValueError:
        pass
    return letta_validate_mcp_server_url(url, resolve_hostname=resolve_hostname)


# Letta's modules import each other in an order only its app module gets right; the ones that
# imported the check by name hold their own reference, each replaced here.
import uvicorn  # noqa: E402
from letta.server.rest_api.app import app  # noqa: E402

import letta.schemas.mcp  # noqa: E402
import letta.schemas.mcp_server  # noqa: E402
import letta.services.mcp_manager  # noqa: E402
import letta.services.mcp_server_manager  # noqa: E402

for module in (url_validation, letta.schemas.mcp, letta.schemas.mcp_server, letta.services.mcp_manager, letta.services.mcp_server_manager):
    module.validate_mcp_server_url = validate_mcp_server_url_allowing_loopback

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, log_level="warning")
