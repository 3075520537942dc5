#!/usr/bin/env python3
"""A small HTTP/1.1 keep-alive server for bench/failover, one process per server.

  failover_server.py NAME PORT

Listens on 127.0.0.1:PORT (SO_REUSEADDR, so a new process can take the port of a killed one at
once) with a deep accept backlog, so that while the process is stopped (SIGSTOP) the kernel keeps
completing TCP handshakes that nobody answers. Answers, keeping the connection open:

  GET /healthz   200 "ok"
  GET /x         200 "served by NAME"
  anything else  404

Writes to stdout, one line each, flushed: `ready PORT PID` once listening, and for every /healthz
`healthz MONOTONIC live|stale`, MONOTONIC being time.monotonic() (CLOCK_MONOTONIC, the same clock
in every process of the machine) when the answer was written. A check is `stale` when its client
had already closed the connection before it was read: that happens to checks queued in the
backlog while the process was stopped, which the checker gave up on long ago (a check whose client
reset the connection is neither answered nor logged).
Python 3 standard library only.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = "server"
OUT_LOCK = threading.Lock()


def emit(line: str) -> None:
    with OUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def peer_closed(sock: socket.socket) -> bool:
    """True when the client has already sent its FIN (nothing left to read but end of stream)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "failover-server"

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            stale = peer_closed(self.connection)
            self.answer(200, b"ok\n")
            emit(f"healthz {time.monotonic():.6f} {'stale' if stale else 'live'}")
        elif path == "/x":
            self.answer(200, f"served by {NAME}\n".encode())
        else:
            self.answer(404, b"not found\n")

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base)
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096  # capped by net.core.somaxconn


def main() -> int:
    global NAME
    if len(sys.argv) != 3:
        print("usage: failover_server.py NAME PORT", file=sys.stderr)
        return 2
    NAME = sys.argv[1]
    port = int(sys.argv[2])
    server = Server(("127.0.0.1", port), Handler)
    emit(f"ready {port} {os.getpid()}")
    server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
