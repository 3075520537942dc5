#!/usr/bin/env python3
"""Demo upstream for haven: a tiny HTTP/1.1 keep-alive server in one of two roles.

  python3 demo/backend.py --role static --name main_static --port 9201
  python3 demo/backend.py --role api    --name main_api    --port 9101

static  serves demo/site/ (GET/HEAD), adds `X-Served-By: NAME` and a `Server-Timing` entry so the
        page's script can tell which server delivered it; answers /healthz.
api     answers /api/status (JSON with fake, varying metrics) and /api/healthz.

Every request is logged as one line on stderr, prefixed with the server's name. SIGTERM and
SIGINT stop the server cleanly (exit status 0). Python 3 standard library only.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

# Idle keep-alive connections are closed after this long; longer than haven's pool keeps them.
IDLE_TIMEOUT_S = 60


class Stop(Exception):
    """Raised from the signal handler to leave serve_forever()."""


class Metrics:
    """Fake but plausible metrics: slow waves plus noise, different per server name."""

    def __init__(self, name: str) -> None:
        self._rng = random.Random(name)
        self._phase = self._rng.uniform(0, 2 * math.pi)
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests = 0

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    def snapshot(self) -> dict:
        t = time.time()
        with self._lock:
            noise = [self._rng.uniform(-1, 1) for _ in range(3)]
            served = self.requests
        cpu = 35 + 25 * math.sin(t / 23 + self._phase) + 6 * noise[0]
        memory = 58 + 9 * math.sin(t / 71 + self._phase / 2) + 1.5 * noise[1]
        rps = 420 + 260 * math.sin(t / 17 + self._phase) + 40 * noise[2]
        return {
            "cpu_percent": round(min(max(cpu, 1.0), 99.0), 1),
            "memory_percent": round(min(max(memory, 5.0), 97.0), 1),
            "requests_per_s": int(max(rps, 0)),
            "requests_served": served,
            "uptime_s": int(t - self.started),
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "haven-demo"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S

    # Set by make_handler().
    role = "static"
    name = "demo"
    metrics: Metrics

    # --- dispatch -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_POST(self) -> None:
        self._not_allowed()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def _handle(self, head: bool) -> None:
        self._started = time.monotonic()
        self.metrics.count()
        if not self._drain_body():
            return
        path = unquote(urlsplit(self.path).path) or "/"
        if self.role == "api":
            self._api(path, head)
        else:
            self._static(path, head)

    # --- api role -------------------------------------------------------------------------

    def _api(self, path: str, head: bool) -> None:
        if path == "/api/healthz":
            self._json(200, {"status": "ok", "server": self.name}, head)
        elif path == "/api/status":
            now = datetime.now(timezone.utc)
            body = {
                "status": "ok",
                "server": self.name,
                "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "metrics": self.metrics.snapshot(),
            }
            self._json(200, body, head)
        else:
            self._json(404, {"status": "not_found", "path": path, "server": self.name}, head)

    # --- static role ----------------------------------------------------------------------

    def _static(self, path: str, head: bool) -> None:
        if path == "/healthz":
            self._json(200, {"status": "ok", "server": self.name}, head)
            return
        if path.endswith("/"):
            path += "index.html"
        full = os.path.realpath(os.path.join(SITE_DIR, path.lstrip("/")))
        if not full.startswith(os.path.realpath(SITE_DIR) + os.sep) or not os.path.isfile(full):
            self._send(404, b"not found\n", "text/plain; charset=utf-8", head)
            return
        with open(full, "rb") as f:
            data = f.read()
        ctype = CONTENT_TYPES.get(os.path.splitext(full)[1], "application/octet-stream")
        self._send(200, data, ctype, head, extra={"Cache-Control": "no-cache"})

    # --- plumbing -------------------------------------------------------------------------

    def _drain_body(self) -> bool:
        """Reads a request body so the connection stays usable; False when it cannot."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(411, b"length required\n", "text/plain; charset=utf-8", False)
            return False
        length = self.headers.get("Content-Length")
        if length:
            try:
                remaining = int(length)
            except ValueError:
                self.close_connection = True
                self._send(400, b"bad content-length\n", "text/plain; charset=utf-8", False)
                return False
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
        return True

    def _not_allowed(self) -> None:
        self._started = time.monotonic()
        if self._drain_body():
            self._send(405, b"method not allowed\n", "text/plain; charset=utf-8", False,
                       extra={"Allow": "GET, HEAD"})

    def _json(self, status: int, body: dict, head: bool) -> None:
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        # no-cache, not no-store: browsers ask again each time, and haven may keep the last good
        # answer to show while every API server is down ([backends.api.stale_if_error]).
        cache = "no-store" if self.path.split("?", 1)[0].endswith("/healthz") else "no-cache"
        self._send(status, data, "application/json", head, extra={"Cache-Control": cache})

    def _send(self, status: int, data: bytes, ctype: str, head: bool, extra=None) -> None:
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Server", self.server_version)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", self.name)
        self.send_header("Server-Timing", f'served-by;desc="{self.name}"')
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(data)
        elapsed_ms = (time.monotonic() - getattr(self, "_started", time.monotonic())) * 1000
        sys.stderr.write(
            f"[{self.name}] {self.client_address[0]}:{self.client_address[1]} "
            f'"{self.requestline}" {status} {0 if head else len(data)} {elapsed_ms:.1f}ms\n'
        )

    def log_request(self, code="-", size="-") -> None:
        pass  # _send() writes the one line per request

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"[{self.name}] {self.address_string()} {fmt % args}\n")


def make_handler(role: str, name: str) -> type[Handler]:
    return type("DemoHandler", (Handler,), {"role": role, "name": name, "metrics": Metrics(name)})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        # A client that resets its connection is routine for a proxy's upstream; keep it to one line.
        exc = sys.exc_info()[1]
        sys.stderr.write(f"[{self.RequestHandlerClass.name}] {client_address[0]}: {exc!r}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description="haven demo backend")
    parser.add_argument("--role", choices=("static", "api"), required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()

    def stop(signum, _frame):
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    # A background job of a script inherits an ignored SIGINT: leave it ignored, so Ctrl-C in
    # scripts/run stops haven first and the script then stops the demo servers.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, stop)

    try:
        server = Server((args.bind, args.port), make_handler(args.role, args.name))
    except OSError as exc:
        sys.stderr.write(f"[{args.name}] cannot listen on {args.bind}:{args.port}: {exc.strerror}\n")
        return 1

    what = SITE_DIR if args.role == "static" else "/api/status, /api/healthz"
    sys.stderr.write(f"[{args.name}] {args.role} server on http://{args.bind}:{args.port}/ ({what})\n")
    try:
        server.serve_forever(poll_interval=0.5)
    except Stop as why:
        sys.stderr.write(f"[{args.name}] {why}, stopping\n")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
