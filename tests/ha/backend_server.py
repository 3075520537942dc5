"""A backend for the high-availability tests, run inside a backend's namespace.

GET /healthz answers "ok"; any other GET answers 200 with "backend NAME via ADDRESS", ADDRESS
being the peer that connected: the proxy node that forwarded the request. The load client reads
it to tell which node served each request through the floating address.

Usage: python3 backend_server.py --name b1 --bind 172.31.250.21 --port 8080
"""
from __future__ import annotations

import argparse
import http.server
import signal
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ha-backend"
    backend_name = "?"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/healthz":
            body = b"ok\n"
        else:
            body = f"backend {self.backend_name} via {self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    Handler.backend_name = args.name
    server = Server((args.bind, args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"backend {args.name} listening on {args.bind}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
