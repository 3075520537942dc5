"""The "never dark" measurements of bench/failover (haven only; no other proxy has these):

1. Recovery to the open page: how long after haven's recovery decision (its "server ... is UP"
   event) an open maintenance page learns that it may go back, by haven's event stream
   (/.haven/status, Accept: text/event-stream) and by polling the health URL every 5 s with
   +-20% jitter as the page does without a feed. 100 pages of each kind, all on 127.0.0.1. The
   page adds its recovery_spread (default 2 s, random) on top of the stream's time on purpose.
2. Requests reaching a failing server: a server that answers 500 to every request for a while,
   200 req/s spread over 20 URLs; the requests that reach it per second during the failure, with
   and without [backends.app.stale_if_error], and what the clients got.

Python 3 standard library only; run from bench/failover (or alone: python3 bench/never_dark.py).
"""
from __future__ import annotations

import json
import os
import random
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGES = 100
POLL_INTERVAL = 5.0


class Origin:
    """An HTTP server in a thread that can stop listening and come back on the same port, and
    answer 500 on demand. Counts the requests it gets (health checks apart)."""

    def __init__(self) -> None:
        self.failing = False
        self.hits: list[float] = []
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                check = self.headers.get("User-Agent") == "haven-check"
                if not check:
                    with origin.lock:
                        origin.hits.append(time.monotonic())
                status = 500 if origin.failing and not check else 200
                body = b"ok" if check else f"item {self.path}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a client gone mid-answer (the stop below) is no news

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def hits_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t in self.hits if start <= t < end)


def haven_config(port: int, origin_port: int, stale: bool) -> str:
    return f"""[global]
workers = 1
max_connections_per_client = 0
[log]
access = "off"
events = "stderr"
[maintenance]
poll = ["/healthz"]
poll_interval = "5s"
[frontends.web]
bind = "127.0.0.1:{port}"
default_backend = "app"
[backends.app]
retries = 0
check = {{ path = "/healthz", interval = "500ms", timeout = "300ms", rise = 1, fall = 1 }}
servers = [ {{ name = "s1", address = "127.0.0.1:{origin_port}" }} ]
""" + ("[backends.app.stale_if_error]\n" if stale else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Haven:
    def __init__(self, binary: Path, work: Path, config: str, port: int) -> None:
        self.dir = Path(tempfile.mkdtemp(dir=work, prefix="never-dark-"))
        (self.dir / "haven.toml").write_text(config)
        self.events_path = self.dir / "events.log"
        self.events_file = open(self.events_path, "wb")
        self.proc = subprocess.Popen([str(binary), "-c", str(self.dir / "haven.toml")], stdout=subprocess.DEVNULL,
                                     stderr=self.events_file, start_new_session=True)
        self.port = port
        deadline = time.monotonic() + 10
        while "listening on" not in self.events():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"haven did not start:\n{self.events()[-2000:]}")
            time.sleep(0.05)

    def events(self) -> str:
        return self.events_path.read_text(errors="replace")

    def event_time(self, pattern: str, timeout: float = 10.0) -> float:
        """Wall-clock time (s) of the first event line matching `pattern`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.events().splitlines():
                if re.search(pattern, line):
                    return datetime.fromisoformat(line.split(" ")[0].replace("Z", "+00:00")).timestamp()
            if time.monotonic() > deadline:
                raise RuntimeError(f"no event matching {pattern!r}:\n{self.events()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.events_file.close()


def get(port: int, path: str, timeout: float = 5.0) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            piece = s.recv(4096)
            if not piece:
                return 0
            data += piece
    return int(data.split(b" ", 2)[1])


def quantiles(values: list[float]) -> str:
    if not values:
        return "—"
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"{statistics.median(values) * 1000:,.0f} ms / {p99 * 1000:,.0f} ms / {values[-1] * 1000:,.0f} ms"


def recovery(binary: Path, work: Path) -> dict:
    origin = Origin()
    port = free_port()
    haven = Haven(binary, work, haven_config(port, origin.port, stale=False), port)
    try:
        origin.stop()
        haven.event_time(r"backend app has no server available")
        # The subscribers: each reads its stream until an event says the backend serves again.
        selector = selectors.DefaultSelector()
        streams = []
        for _ in range(PAGES):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /.haven/status HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
            s.setblocking(False)
            streams.append(s)
            selector.register(s, selectors.EVENT_READ, {"data": b"", "back": None})
        stream_back: list[float] = []
        stop = threading.Event()

        def read_streams() -> None:
            while not stop.is_set() and len(stream_back) < PAGES:
                for key, _ in selector.select(0.05):
                    state = key.data
                    try:
                        piece = key.fileobj.recv(65536)
                    except BlockingIOError:
                        continue
                    if not piece:
                        selector.unregister(key.fileobj)
                        continue
                    state["data"] += piece
                    # Events come whole; the page goes back on the first with every backend serving.
                    if state["back"] is None and b'data: {"serving":true' in state["data"].split(b"event: status", 1)[-1]:
                        if b'"mode":"maintenance"' not in state["data"].rsplit(b"event: status", 1)[-1]:
                            state["back"] = time.time()
                            stream_back.append(state["back"])

        reader = threading.Thread(target=read_streams, daemon=True)
        reader.start()
        # The pollers: each polls the health URL every 5 s +-20%, from a random phase.
        poll_back: list[float] = []
        poll_lock = threading.Lock()

        def poller() -> None:
            time.sleep(random.uniform(0, POLL_INTERVAL))
            while not stop.is_set():
                try:
                    ok = get(port, "/healthz") == 200
                except OSError:
                    ok = False
                if ok:
                    with poll_lock:
                        poll_back.append(time.time())
                    return
                stop.wait(POLL_INTERVAL * random.uniform(0.8, 1.2))

        pollers = [threading.Thread(target=poller, daemon=True) for _ in range(PAGES)]
        for t in pollers:
            t.start()
        time.sleep(POLL_INTERVAL * 1.5)  # every poller has seen the outage at least once
        origin.start()
        decided = haven.event_time(r"server app/s1 is UP")
        deadline = time.monotonic() + POLL_INTERVAL * 1.2 + 5
        while (len(stream_back) < PAGES or len(poll_back) < PAGES) and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        reader.join(2)
        for s in streams:
            s.close()
        return {"stream_s": [max(0.0, t - decided) for t in stream_back],
                "poll_s": [max(0.0, t - decided) for t in poll_back]}
    finally:
        haven.stop()
        origin.stop()


def failing_server(binary: Path, work: Path, stale: bool, seconds: float = 5.0) -> dict:
    origin = Origin()
    port = free_port()
    haven = Haven(binary, work, haven_config(port, origin.port, stale), port)
    urls = [f"/item/{i}" for i in range(20)]
    try:
        for url in urls:  # copies made (when kept) before the failure
            get(port, url)
        time.sleep(1.1)
        origin.failing = True
        started = time.monotonic()
        statuses: dict[int, int] = {}
        sent = 0
        while time.monotonic() - started < seconds:
            status = get(port, urls[sent % len(urls)])
            statuses[status] = statuses.get(status, 0) + 1
            sent += 1
            time.sleep(max(0.0, started + sent / 200 - time.monotonic()))
        ended = time.monotonic()
        reached = origin.hits_between(started, ended)
        return {"stale": stale, "sent": sent, "seconds": ended - started, "reached": reached,
                "reached_per_s": reached / (ended - started), "statuses": statuses}
    finally:
        origin.failing = False
        haven.stop()
        origin.stop()


def measure(binary: Path, work: Path) -> dict:
    return {"recovery": recovery(binary, work),
            "failing": [failing_server(binary, work, stale=False), failing_server(binary, work, stale=True)]}


def render(result: dict) -> str:
    rec = result["recovery"]
    out = ["", "### Never dark (haven only)", "",
           f"Recovery to the open page: {PAGES} pages following haven's event stream and {PAGES} polling the "
           f"health URL every {POLL_INTERVAL:g} s (±20 %), time from haven's recovery decision (its `is UP` event) "
           "to each page learning it may go back (the page then waits a random part of `recovery_spread` on purpose).",
           "", "| How the page learns | pages back | p50 / p99 / max |", "|---|---:|---|",
           f"| event stream (`/.haven/status`) | {len(rec['stream_s'])} / {PAGES} | {quantiles(rec['stream_s'])} |",
           f"| polling the health URL | {len(rec['poll_s'])} / {PAGES} | {quantiles(rec['poll_s'])} |",
           "", "A server answering 500 to everything for 5 s, 200 req/s over 20 URLs kept before the failure:",
           "", "| stale_if_error | requests sent | reaching the server per second | clients got |", "|---|---:|---:|---|"]
    for run in result["failing"]:
        got = ", ".join(f"{count} × {status}" for status, count in sorted(run["statuses"].items()))
        out.append(f"| {'on' if run['stale'] else 'off'} | {run['sent']:,} | {run['reached_per_s']:,.1f} | {got} "
                   f"{'(copies, X-Haven-Stale: 1)' if run['stale'] else ''} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    repo = Path(__file__).resolve().parent.parent
    binary = Path(os.environ.get("HAVEN", repo / "build" / "haven"))
    with tempfile.TemporaryDirectory(prefix="haven-never-dark-") as tmp:
        result = measure(binary, Path(tmp))
    print(render(result))
    print(json.dumps({"recovery_p50_stream_ms": statistics.median(result["recovery"]["stream_s"]) * 1000
                      if result["recovery"]["stream_s"] else None}), file=sys.stderr)
