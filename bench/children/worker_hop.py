#!/usr/bin/env python3
"""The worker hop the legacy team proposed, for the benchmark.

A local HTTP worker: the MCP side POSTs the find_tools arguments as JSON to /find_tools, the
worker does the legacy work (lookup + attach) on pooled keep-alive connections and answers with
the result line. Standard library only (ThreadingHTTPServer + http.client), so it always runs.
Prints its port on the first stdout line.
"""

import http.client
import http.server
import json
import queue
import ssl
import threading
import urllib.parse

import legacy_find_tools as legacy

POOL_SIZE = 32


class ConnectionPool:
    """Keep-alive connections to one origin, at most POOL_SIZE in use at once."""

    def __init__(self, url, timeout):
        parts = urllib.parse.urlsplit(url)
        self.secure = parts.scheme == 'https'
        self.host = parts.hostname
        self.port = parts.port
        self.base_path = parts.path.rstrip('/')
        self.timeout = timeout
        self.context = ssl.create_default_context() if self.secure else None
        self.idle = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(POOL_SIZE)

    def _connect(self):
        if self.secure:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _send(self, connection, method, path, body):
        connection.request(method, self.base_path + path, body=body, headers=legacy.JSON_HEADERS)
        response = connection.getresponse()
        return response.status, response.read().decode('utf-8')

    def request(self, method, path, body=None):
        with self.slots:
            try:
                connection, reused = self.idle.get_nowait(), True
            except queue.Empty:
                connection, reused = self._connect(), False
            try:
                reply = self._send(connection, method, path, body)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                if not reused:
                    raise
                # A pooled connection the server had closed: nothing was processed, send again.
                connection = self._connect()
                reply = self._send(connection, method, path, body)
            except BaseException:
                connection.close()
                raise
            self.idle.put(connection)
            return reply


TOOL_SELECTOR = ConnectionPool(legacy.tool_selector_url(), legacy.ATTACH_TIMEOUT_SECONDS)
LETTA = ConnectionPool(legacy.letta_api_url(), legacy.LOOKUP_TIMEOUT_SECONDS)


def find_tools(raw):
    args = legacy.sanitize(raw)
    tool_id = legacy.find_tool_id(lambda path: LETTA.request('GET', path), args['agent_id'])
    body = json.dumps(legacy.attach_payload(args, tool_id)).encode('utf-8')
    try:
        status, text = TOOL_SELECTOR.request('POST', '/api/v1/tools/attach', body)
        return legacy.result_for(status, text)
    except (OSError, http.client.HTTPException) as error:
        return legacy.failure_result(error)


class FindToolsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    # Without it the body, written after the headers, waits on Nagle + delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = json.loads(self.rfile.read(length) or b'{}')
        line = legacy.dumps(find_tools(raw)).encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(line)))
        self.end_headers()
        self.wfile.write(line)

    def log_message(self, format, *args):
        # One stderr line per request would be the worker's largest cost, and noise.
        pass


class WorkerServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections, and
    # each dropped one waits a 1 s retransmit (uvicorn, the planned server, uses 2048).
    request_queue_size = 1024


def main():
    server = WorkerServer(('127.0.0.1', 0), FindToolsHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()
