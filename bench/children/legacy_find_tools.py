#!/usr/bin/env python3
"""A legacy-style find_tools script, for the benchmark's process-per-call path.

Arguments in (the legacy flags), the find_tools id looked up in the Letta API, the attach POST
to the Tool Selector, one JSON line out, every request on a fresh connection: what the legacy
MCP server paid on every call. Standard library only (urllib), so it runs on any python3.
The worker hop (worker_hop.py) reuses the argument, body and result helpers.
"""

import argparse
import json
import math
import os
import socket
import sys
import urllib.error
import urllib.request

FALLBACK_TOOL_ID = 'tool-e34b5c60-5bd5-4288-a97f-2167ddf3062b'
MAX_LIMIT = 25
ATTACH_TIMEOUT_SECONDS = 15.0
LOOKUP_TIMEOUT_SECONDS = 10.0
JSON_HEADERS = {'Content-Type': 'application/json', 'Accept': 'application/json'}


def tool_selector_url():
    return os.environ.get('TOOLS_API_BASE_URL', 'https://tool-selector-api:8020').strip().rstrip('/')


def letta_api_url():
    url = os.environ.get('LETTA_API_URL', 'https://letta.oculair.ca/v1').strip().rstrip('/')
    return url if url.endswith('/v1') else url + '/v1'


def number_arg(value, default):
    if value is None or value == '':
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def sanitize(raw):
    """BEHAVIOUR.md §1, from the CLI's strings or the worker's JSON values."""
    keep = raw.get('keep_tools') or []
    items = keep if isinstance(keep, list) else str(keep).split(',')
    heartbeat = raw.get('request_heartbeat')
    return {
        'query': raw.get('query') or '',
        'agent_id': raw.get('agent_id') or '',
        'keep_tools': [item.strip() for item in items if item.strip()],
        'limit': min(max(math.floor(number_arg(raw.get('limit'), 10)), 1), MAX_LIMIT),
        'min_score': min(max(number_arg(raw.get('min_score'), 50.0), 0.0), 100.0),
        'request_heartbeat': heartbeat.lower() == 'true' if isinstance(heartbeat, str) else heartbeat is True,
    }


def attach_payload(args, tool_id):
    keep_tools = [tool_id]
    for item in args['keep_tools']:
        if item not in keep_tools:
            keep_tools.append(item)
    payload = {
        'limit': args['limit'],
        'min_score': float(args['min_score']),
        'keep_tools': keep_tools,
        'request_heartbeat': args['request_heartbeat'],
    }
    if args['query']:
        payload['query'] = args['query']
    if args['agent_id']:
        payload['agent_id'] = args['agent_id']
    return payload


def find_tool_id(get, agent_id):
    """BEHAVIOUR.md §3: get(path) returns (status, text) from the Letta API, or raises."""
    if agent_id:
        try:
            status, text = get('/agents/%s/tools' % agent_id)
            if status == 200:
                candidate = None
                for tool in json.loads(text):
                    name = str(tool.get('name', '')).lower()
                    if name == 'find_tools':
                        return tool['id']
                    if 'find' in name and 'tool' in name:
                        candidate = tool['id']
                if candidate:
                    return candidate
        except (OSError, ValueError):
            pass
    try:
        status, text = get('/tools')
        if status == 200:
            for tool in json.loads(text):
                if str(tool.get('name', '')).lower() == 'find_tools':
                    return tool['id']
    except (OSError, ValueError):
        pass
    return FALLBACK_TOOL_ID


def result_for(status, text):
    """BEHAVIOUR.md §5, as a dict for json.dumps."""
    try:
        body = json.loads(text)
    except ValueError:
        return {'status': 'error', 'message': 'HTTP %d' % status}
    if not isinstance(body, dict):
        return {'status': 'error', 'message': 'HTTP %d' % status}
    if status == 200 and body.get('success'):
        return {
            'status': 'success',
            'message': body['message'] if 'message' in body else 'Tools updated successfully.',
            'details': body.get('details'),
        }
    result = {'status': 'error', 'message': body.get('error') or 'HTTP %d' % status}
    if body.get('details'):
        result['details'] = body['details']
    return result


def failure_result(error):
    timed_out = isinstance(error, (socket.timeout, TimeoutError)) or isinstance(
        getattr(error, 'reason', None), (socket.timeout, TimeoutError))
    message = 'Tool attach request timed out.' if timed_out else 'Failed to contact tool selector API.'
    return {'status': 'error', 'message': message}


def dumps(result):
    return json.dumps(result, ensure_ascii=False)


def urllib_send(method, url, body, timeout):
    request = urllib.request.Request(url, data=body, method=method, headers=JSON_HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode('utf-8')
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode('utf-8')


def main():
    parser = argparse.ArgumentParser(description='find_tools, legacy style')
    for flag in ('--query', '--agent_id', '--keep_tools', '--limit', '--min_score', '--request_heartbeat'):
        parser.add_argument(flag)
    args = sanitize(vars(parser.parse_args()))
    letta = letta_api_url()
    tool_id = find_tool_id(lambda path: urllib_send('GET', letta + path, None, LOOKUP_TIMEOUT_SECONDS), args['agent_id'])
    body = json.dumps(attach_payload(args, tool_id)).encode('utf-8')
    try:
        status, text = urllib_send('POST', tool_selector_url() + '/api/v1/tools/attach', body, ATTACH_TIMEOUT_SECONDS)
        result = result_for(status, text)
    except OSError as error:
        result = failure_result(error)
    print(dumps(result))


if __name__ == '__main__':
    main()
    sys.stdout.flush()
