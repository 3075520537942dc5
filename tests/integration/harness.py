"""Integration test harness for haven: standard library only (Python 3.11).

Each tests/integration/test_*.py file imports this module, registers its cases with @test and ends
with `run()`. The runner starts nothing by itself: a case starts the upstreams (threads in this
process, bound to 127.0.0.1 port 0) and haven processes it needs, and the runner stops whatever a
case left running, whether it passed or failed.

Usage:  python3 tests/integration/test_X.py --haven build/haven [-k substring] [--keep]
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ARGS: argparse.Namespace | None = None
_TESTS: list[Callable[[], None]] = []
_RUN_DIR: str | None = None            # one temp dir per test file run, holding every haven's files
_LIVE_HAVENS: list["Haven"] = []       # started during the current case
_LIVE_UPSTREAMS: list["Upstream"] = []
_LIVE_CLIENTS: list["Client"] = []
_REGISTRY_LOCK = threading.Lock()

MiB = 1024 * 1024

# HAVEN_TEST_TLS=1 runs a file's cases over TLS: make_config gives the frontend a certificate from
# the run's test CA, and Haven.client() speaks TLS to it (ctest runs some files both ways).
TLS_MODE = os.environ.get("HAVEN_TEST_TLS") == "1"
_RUN_CA = None  # tls_support.TestCA, made on first use


def run_ca():
    """The test CA of this run, with a certificate for "localhost" (run_ca().localhost)."""
    global _RUN_CA
    if _RUN_CA is None:
        from tls_support import TestCA
        ca = TestCA(new_temp_dir("ca-"))
        ca.localhost = ca.issue("localhost", ["localhost"], ip=["127.0.0.1", "::1"])
        _RUN_CA = ca
    return _RUN_CA


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    """Raised by a case that cannot run here (e.g. no IPv6 loopback); counted as passed."""


# ---------------------------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------------------------

def test(fn: Callable[[], None]) -> Callable[[], None]:
    """Registers a test case; cases run in definition order."""
    _TESTS.append(fn)
    return fn


def haven_path() -> str:
    assert ARGS is not None, "harness.run() parses the arguments"
    return ARGS.haven


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="haven integration tests")
    parser.add_argument("--haven", required=True, help="path to the haven binary")
    parser.add_argument("-k", dest="filter", default="", help="run only cases whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with configs and logs")
    parser.add_argument("--case-timeout", type=float, default=60.0,
                        help="seconds after which a case is aborted (its processes killed)")
    args = parser.parse_args(argv)
    args.haven = os.path.abspath(args.haven)   # haven runs with its temp dir as working directory
    return args


def _cleanup_case() -> None:
    with _REGISTRY_LOCK:
        clients = list(_LIVE_CLIENTS)
        havens = list(_LIVE_HAVENS)
        upstreams = list(_LIVE_UPSTREAMS)
        _LIVE_CLIENTS.clear()
    for c in clients:
        c.close()
    for h in havens:
        try:
            h.kill_if_running()
        except Exception:  # noqa: BLE001 - cleanup must go on
            traceback.print_exc()
    for u in upstreams:
        try:
            u.stop()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    with _REGISTRY_LOCK:
        _LIVE_HAVENS.clear()
        _LIVE_UPSTREAMS.clear()


_SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                      "runtime error:")


@functools.lru_cache(maxsize=None)
def haven_is_sanitized() -> bool:
    """Whether the haven under test is an ASan or TSan build: their allocators keep freed memory
    in quarantine, so resident memory says nothing about leaks there (LeakSanitizer does)."""
    with open(haven_path(), "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def _sanitizer_report() -> str:
    """The first sanitizer report in the event logs of this case's havens (sanitizer builds print
    to stderr), or ""."""
    with _REGISTRY_LOCK:
        havens = list(_LIVE_HAVENS)
    for h in havens:
        try:
            with open(h.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for marker in _SANITIZER_MARKERS:
            at = text.find(marker)
            if at >= 0:
                return f"haven pid {h.pid}: {text[at:at + 3000]}"
    return ""


def _dump_haven_logs() -> None:
    with _REGISTRY_LOCK:
        havens = list(_LIVE_HAVENS)
    for h in havens:
        for label, path in (("event log (stderr)", h.stderr_path), ("access log (stdout)", h.stdout_path)):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            lines = data.decode("utf-8", "replace").splitlines()
            print(f"    --- haven pid {h.pid} {label}, last {min(len(lines), 30)} of {len(lines)} lines ---")
            for line in lines[-30:]:
                print(f"    | {line}")
        rc = h.proc.poll()
        if rc is not None:
            print(f"    --- haven pid {h.pid} exited with {rc} ---")


def run(argv: list[str] | None = None) -> None:
    """Runs the registered cases, prints one line per case and the summary, exits 0 or 1."""
    global ARGS, _RUN_DIR
    ARGS = _parse_args(argv)
    _RUN_DIR = tempfile.mkdtemp(prefix="haven-it-")
    # Run a private copy: a rebuild that relinks the binary mid-run must not make cases fail.
    if os.path.isfile(ARGS.haven):
        copy = os.path.join(_RUN_DIR, "haven")
        shutil.copy2(ARGS.haven, copy)
        ARGS.haven_original = ARGS.haven
        ARGS.haven = copy
    passed = failed = 0
    selected = [t for t in _TESTS if ARGS.filter in t.__name__]
    script = os.path.basename(sys.argv[0])
    print(f"{script}: {len(selected)} cases, haven = {getattr(ARGS, 'haven_original', ARGS.haven)}, "
          f"files in {_RUN_DIR}", flush=True)
    for fn in selected:
        name = fn.__name__
        start = time.monotonic()
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            print(f"    !!! {name} exceeded {ARGS.case_timeout:.0f}s: killing its processes", flush=True)
            with _REGISTRY_LOCK:
                havens = list(_LIVE_HAVENS)
                upstreams = list(_LIVE_UPSTREAMS)
                clients = list(_LIVE_CLIENTS)
            for h in havens:
                h.kill_if_running()
            for u in upstreams:
                u.stop()
            for c in clients:
                c.close()

        def on_hard_timeout() -> None:
            print(f"FAIL {name}: hung after its processes were killed; aborting", flush=True)
            for h in list(_LIVE_HAVENS):
                h.kill_if_running()
            print(f"{passed} passed, {failed + 1} failed", flush=True)
            if not ARGS.keep:
                shutil.rmtree(_RUN_DIR, ignore_errors=True)
            os._exit(1)

        watchdog = threading.Timer(ARGS.case_timeout, on_timeout)
        hard_watchdog = threading.Timer(ARGS.case_timeout + 20, on_hard_timeout)
        watchdog.daemon = hard_watchdog.daemon = True
        watchdog.start()
        hard_watchdog.start()
        ok = False
        skip_reason = None
        tb = ""
        try:
            fn()
            ok = not timed_out.is_set()
            if not ok:
                tb = "case timed out\n"
            elif report := _sanitizer_report():
                ok = False
                tb = f"sanitizer report:\n{report}\n"
        except Skip as e:
            ok = True
            skip_reason = str(e)
        except BaseException as e:  # noqa: BLE001 - report every failure, including KeyboardInterrupt
            if isinstance(e, KeyboardInterrupt):
                _cleanup_case()
                raise
            tb = traceback.format_exc()
        finally:
            watchdog.cancel()
        elapsed = time.monotonic() - start
        if ok:
            passed += 1
            if skip_reason is not None:
                print(f"SKIP {name}: {skip_reason}", flush=True)
            else:
                print(f"PASS {name} ({elapsed:.2f}s)", flush=True)
        else:
            failed += 1
            print(f"FAIL {name} ({elapsed:.2f}s)", flush=True)
            for line in tb.rstrip().splitlines():
                print(f"    {line}")
            _dump_haven_logs()
            sys.stdout.flush()
        _cleanup_case()
        hard_watchdog.cancel()
    if not ARGS.keep:
        shutil.rmtree(_RUN_DIR, ignore_errors=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 and passed > 0 else 1)


# ---------------------------------------------------------------------------------------------
# Small assertion and polling helpers
# ---------------------------------------------------------------------------------------------

def note(message: str) -> None:
    """An informational line in the output of the current case."""
    print(f"    note: {message}", flush=True)


def check(cond: object, message: str = "check failed") -> None:
    if not cond:
        raise TestFailure(message)


def short_repr(value: object, limit: int = 400) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f", {len(value)} bytes/items" if hasattr(value, "__len__") else ""
    return f"{text[:limit // 2]} ...[{len(text)} chars{size}]... {text[-limit // 4:]}"


def check_eq(actual: object, expected: object, what: str = "value") -> None:
    if actual != expected:
        if isinstance(actual, (bytes, str)) and isinstance(expected, type(actual)):
            n = next((i for i, (a, b) in enumerate(zip(actual, expected)) if a != b), min(len(actual), len(expected)))
            raise TestFailure(f"{what}: differs at offset {n} (got {len(actual)}, expected {len(expected)} long): "
                              f"expected {short_repr(expected)}, got {short_repr(actual)}")
        raise TestFailure(f"{what}: expected {short_repr(expected)}, got {short_repr(actual)}")


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> object:
    """Polls `predicate` until it returns a truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# HTTP message parsing shared by the client and the upstreams
# ---------------------------------------------------------------------------------------------

class Headers:
    """An ordered list of (name, value) with case-insensitive lookup."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        self.items: list[tuple[str, str]] = list(items)

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for n, v in self.items:
            if n.lower() == lname:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.items if n.lower() == lname]

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every `name` header, lowercased."""
        out = []
        for v in self.get_all(name):
            out.extend(t.strip().lower() for t in v.split(",") if t.strip())
        return out

    def names(self) -> list[str]:
        return [n.lower() for n, _ in self.items]

    def __repr__(self) -> str:
        return f"Headers({self.items!r})"


class ProtocolError(Exception):
    pass


def read_head(rfile, limit: int = 1024 * 1024) -> list[bytes] | None:
    """Reads one message head (start line + header lines, without CRLFs). None on a clean EOF
    before the first byte. Bare LF line ends are tolerated."""
    lines: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(limit + 2)
        if not line:
            if not lines:
                return None
            raise ProtocolError(f"EOF inside a message head after {lines!r}")
        total += len(line)
        if total > limit:
            raise ProtocolError("message head too large")
        if not line.endswith(b"\n"):
            raise ProtocolError(f"head line too long or truncated: {line[:80]!r}")
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if not line:
            if not lines:  # tolerate leading empty lines (RFC 9112 2.2)
                continue
            return lines
        lines.append(line)


def parse_header_lines(lines: list[bytes]) -> Headers:
    items = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError(f"header line without colon: {line!r}")
        items.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return Headers(items)


def _is_chunked(headers: Headers) -> bool:
    te = headers.tokens("transfer-encoding")
    return bool(te) and te[-1] == "chunked"


@dataclass
class ChunkedInfo:
    extensions: list[str] = field(default_factory=list)   # raw extension text per chunk, "" if none
    trailers: Headers = field(default_factory=Headers)
    sizes: list[int] = field(default_factory=list)


def iter_chunked(rfile, info: ChunkedInfo | None = None, block: int = 256 * 1024) -> Iterator[bytes]:
    """Decodes a chunked body, yielding data pieces; fills `info` with extensions and trailers."""
    while True:
        line = rfile.readline(65536)
        if not line.endswith(b"\n"):
            raise ProtocolError(f"truncated chunk size line: {line[:80]!r}")
        line = line.rstrip(b"\r\n")
        size_text, _, ext = line.partition(b";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {line[:80]!r}") from None
        if info is not None:
            info.extensions.append(ext.decode("latin-1"))
            info.sizes.append(size)
        if size == 0:
            break
        remaining = size
        while remaining:
            piece = rfile.read(min(remaining, block))
            if not piece:
                raise ProtocolError("EOF inside a chunk")
            remaining -= len(piece)
            yield piece
        crlf = rfile.readline(3)
        if crlf not in (b"\r\n", b"\n"):
            raise ProtocolError(f"missing CRLF after chunk data: {crlf!r}")
    trailer_lines = []
    while True:
        line = rfile.readline(65536)
        if not line:
            raise ProtocolError("EOF in chunked trailers")
        line = line.rstrip(b"\r\n")
        if not line:
            break
        trailer_lines.append(line)
    if info is not None:
        info.trailers = parse_header_lines(trailer_lines)


def iter_length(rfile, length: int, block: int = 256 * 1024) -> Iterator[bytes]:
    remaining = length
    while remaining:
        piece = rfile.read(min(remaining, block))
        if not piece:
            raise ProtocolError(f"EOF with {remaining} of {length} body bytes missing")
        remaining -= len(piece)
        yield piece


def iter_until_close(rfile, block: int = 256 * 1024) -> Iterator[bytes]:
    while True:
        piece = rfile.read1(block)
        if not piece:
            return
        yield piece


def encode_chunked(body: bytes, chunk_size: int = 1000) -> bytes:
    out = bytearray()
    for i in range(0, len(body), chunk_size):
        piece = body[i:i + chunk_size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Deterministic large bodies (never held whole in memory)
# ---------------------------------------------------------------------------------------------

_PATTERN_BLOCK = hashlib.sha512(b"haven").digest() * 1024   # 64 KiB


def pattern_blocks(total: int, block: int = 65536) -> Iterator[bytes]:
    """`total` bytes in blocks of `block`, each block distinct (its index in front), so that a
    lost, duplicated or reordered block changes the checksum."""
    assert block <= len(_PATTERN_BLOCK)
    index = 0
    sent = 0
    while sent < total:
        n = min(block, total - sent)
        data = struct.pack(">Q", index) + _PATTERN_BLOCK[8:block]
        yield data[:n]
        sent += n
        index += 1


@functools.lru_cache(maxsize=64)
def pattern_digest(total: int, block: int = 65536) -> str:
    h = hashlib.sha256()
    for piece in pattern_blocks(total, block):
        h.update(piece)
    return h.hexdigest()


class Digest:
    """Incremental size + sha256 of a stream."""

    def __init__(self) -> None:
        self.size = 0
        self.h = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self.h.update(data)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Upstream servers (threads inside the test process)
# ---------------------------------------------------------------------------------------------

@dataclass
class Request:
    """A request an upstream received. Recorded as soon as its head is parsed."""
    method: str
    target: str
    version: str
    headers: Headers
    conn_id: int
    body: bytes | None = None           # filled when the body was read by the harness
    complete: bool = False              # the whole body arrived
    chunked: bool = False
    chunk_info: ChunkedInfo | None = None
    received_at: float = 0.0

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def is_health_check(req: Request) -> bool:
    return req.headers.get("user-agent") == "haven-check"


class UpstreamConn:
    """One accepted connection, handed to custom handlers."""

    def __init__(self, upstream: "Upstream", sock: socket.socket, conn_id: int):
        self.upstream = upstream
        self.sock = sock
        self.conn_id = conn_id
        self.rfile = sock.makefile("rb", buffering=65536)
        self.aborted = threading.Event()   # set when the upstream is stopped or killed
        self.killed = False                # set by Upstream.kill(): nothing more may be sent

    def send(self, data: bytes) -> None:
        if self.killed:
            raise ConnectionResetError("upstream killed")
        self.sock.sendall(data)

    def iter_body(self, req: Request) -> Iterator[bytes]:
        """Streams the request body (chunked or Content-Length), marking the request complete."""
        if req.chunked:
            req.chunk_info = ChunkedInfo()
            yield from iter_chunked(self.rfile, req.chunk_info)
        else:
            cl = req.headers.get("content-length")
            if cl is not None:
                yield from iter_length(self.rfile, int(cl))
        req.complete = True

    def read_body(self, req: Request) -> bytes:
        req.body = b"".join(self.iter_body(req))
        return req.body

    def respond(self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = (),
                reason: str | None = None, content_length: bool = True) -> None:
        self.send(build_response(status, body, headers, reason, content_length))

    def reset(self) -> None:
        """Closes with RST (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def wait_stop(self, seconds: float) -> bool:
        """Sleeps up to `seconds`; True if the upstream is being stopped (or was killed)."""
        return self.aborted.wait(seconds)


REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 204: "No Content",
           304: "Not Modified", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


def build_response(status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = (),
                   reason: str | None = None, content_length: bool = True) -> bytes:
    reason = REASONS.get(status, "Status") if reason is None else reason
    out = [f"HTTP/1.1 {status} {reason}\r\n".encode()]
    headers = list(headers)
    names = {n.lower() for n, _ in headers}
    if content_length and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    for n, v in headers:
        out.append(f"{n}: {v}\r\n".encode("latin-1"))
    out.append(b"\r\n")
    out.append(body)
    return b"".join(out)


def echo_body(upstream: "Upstream", req: Request, conn: UpstreamConn) -> bytes:
    body = req.body or b""
    return json.dumps({
        "server": upstream.name,
        "method": req.method,
        "target": req.target,
        "path": req.path,
        "version": req.version,
        "headers": req.headers.items,
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "conn": conn.conn_id,
    }).encode()


Handler = Callable[[Request, UpstreamConn], bool]


class Upstream:
    """A fake backend server on 127.0.0.1 (or ::1), port chosen by the OS.

    behaviour:
      "ok"     keep-alive HTTP/1.1 server; 200 with a JSON echo of the request (see echo_body)
      "slow"   like "ok" but answers after `delay` seconds
      "hang"   accepts and reads, never answers
      "reset"  answers 200 with Content-Length 1 MiB, sends `reset_after` body bytes, then RST
      "refuse" nothing listens on the port (bound, then closed)
    handler: a custom function handler(req, conn) -> keep_alive; when read_body is True (default)
      the request body is in req.body before the call, otherwise the handler reads it
      (conn.iter_body / conn.read_body).
    kill() simulates a crash (listening socket closed, every connection reset); restart() listens
    again on the same port (the recorded requests are kept).
    """

    def __init__(self, behaviour: str = "ok", handler: Handler | None = None, *, name: str = "",
                 delay: float = 1.0, read_body: bool = True, reset_after: int = 1000,
                 host: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
        self.behaviour = "custom" if handler is not None else behaviour
        assert self.behaviour in ("ok", "slow", "hang", "reset", "refuse", "custom"), behaviour
        self.handler = handler
        self.name = name
        self.delay = delay
        self.read_body = read_body
        self.reset_after = reset_after
        self.host = host
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.tls = tls                # accepted connections speak TLS with this context
        self.tls_failures: list[str] = []  # handshakes that failed (the peer refused, or we did)
        self.requests: list[Request] = []
        self.connections = 0          # TCP connections accepted
        self.closed_connections = 0   # connections finished (either side closed)
        self.errors: list[str] = []   # protocol errors seen while reading requests
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: dict[socket.socket, UpstreamConn] = {}
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._accept_stop: threading.Event | None = None     # stops the current accept loop
        self._accept_thread: threading.Thread | None = None
        self.kills = 0                # kill() calls
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        self.port = sock.getsockname()[1]
        # While nothing listens, the port stays bound (connections are refused): no other test's
        # socket can take it and turn "refused" into "answered".
        self._reserved: socket.socket | None = None
        if self.behaviour == "refuse":
            self._reserved = sock
        else:
            self._listen(sock)
        with _REGISTRY_LOCK:
            _LIVE_UPSTREAMS.append(self)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if self.family == socket.AF_INET6 else f"{self.host}:{self.port}"

    # -- observations -------------------------------------------------------------------------
    def traffic(self) -> list[Request]:
        """The requests received, without haven's health checks (User-Agent: haven-check)."""
        with self._lock:
            return [r for r in self.requests if not is_health_check(r)]

    def health_checks(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if is_health_check(r)]

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def wait_requests(self, n: int, timeout: float = 5.0) -> list[Request]:
        wait_until(lambda: self.request_count() >= n, timeout, f"{n} request(s) at upstream {self.address}")
        with self._lock:
            return list(self.requests)

    def last_request(self) -> Request:
        with self._lock:
            check(self.requests, f"upstream {self.address} received no request")
            return self.requests[-1]

    # -- lifecycle -----------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        with self._lock:
            listener, self._listener = self._listener, None
            conns = list(self._conns.items())
            for _, conn in conns:
                conn.aborted.set()
        if listener is not None:
            try:
                listener.close()
            except OSError:
                pass
        for c, _ in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            if t is not threading.current_thread():
                t.join(timeout=2)

    def listening(self) -> bool:
        with self._lock:
            return self._listener is not None

    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def kill(self, timeout: float = 3.0) -> None:
        """Simulates a crash: the listening socket is closed (connection attempts are refused, and
        connections waiting in the accept queue are reset) and every accepted connection is reset
        (RST, no FIN, no further response byte). Handlers see wait_stop() return True and
        conn.send() raise. Returns once every connection is gone."""
        check(not self._stopping.is_set(), "kill() on a stopped upstream")
        with self._lock:
            listener, self._listener = self._listener, None
            stop_event, thread = self._accept_stop, self._accept_thread
            self._accept_stop = self._accept_thread = None
            self.kills += 1
        if stop_event is not None:
            stop_event.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        if listener is not None:
            try:
                listener.close()
            except OSError:
                pass
            self._reserve_port()
        with self._lock:
            conns = list(self._conns.items())
        for sock, conn in conns:
            conn.killed = True
            conn.aborted.set()
            try:
                # close() after SO_LINGER 0 sends a RST. SHUT_RD wakes the thread blocked in recv
                # without sending anything; that thread then closes the socket.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                left = [s for s, _ in conns if s in self._conns]
            if not left:
                return
            if time.monotonic() >= deadline:
                # A thread blocked in sendall (peer not reading): a full shutdown wakes it.
                for sock in left:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                wait_until(lambda: not any(s in self._conns for s in left), 2.0,
                           f"the connections of upstream {self.address} to close after kill()")
                return
            time.sleep(0.01)

    def restart(self, timeout: float = 5.0) -> None:
        """Listens again on the same port after kill() (or on a "refuse" upstream's port)."""
        check(not self._stopping.is_set(), "restart() on a stopped upstream")
        check(not self.listening(), f"upstream {self.address} is already listening")
        if self._reserved is not None:
            sock, self._reserved = self._reserved, None
            self._listen(sock)
            return
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
                break
            except OSError as e:
                sock.close()
                if time.monotonic() >= deadline:
                    raise TestFailure(f"cannot listen on {self.address} again: {e}") from None
                time.sleep(0.05)
        self._listen(sock)

    def _reserve_port(self) -> None:
        """Binds the port without listening (connections are refused), so nobody else takes it."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()   # accepted connections still hold it; restart() binds it again then
            return
        self._reserved = sock

    def _listen(self, sock: socket.socket) -> None:
        sock.listen(1024)
        stop_event = threading.Event()
        t = threading.Thread(target=self._accept_loop, args=(sock, stop_event), name=f"upstream-{self.port}",
                             daemon=True)
        with self._lock:
            self._listener = sock
            self._accept_stop = stop_event
            self._accept_thread = t
            self._threads.append(t)
        t.start()

    def _accept_loop(self, listener: socket.socket, stop_event: threading.Event) -> None:
        while not self._stopping.is_set() and not stop_event.is_set():
            try:
                r, _, _ = select.select([listener], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                conn_id = self.connections
                conn = UpstreamConn(self, sock, conn_id)
                self._conns[sock] = conn
                if self._stopping.is_set() or stop_event.is_set():
                    conn.aborted.set()
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                 name=f"upstream-{self.port}-conn{conn_id}")
            t.start()
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, conn: UpstreamConn) -> None:
        sock, conn_id = conn.sock, conn.conn_id
        sock.settimeout(120)
        if self.tls is not None:
            try:
                conn.sock = self.tls.wrap_socket(sock, server_side=True)
                conn.rfile = conn.sock.makefile("rb", buffering=65536)
            except (OSError, ssl.SSLError) as e:
                with self._lock:
                    self.tls_failures.append(repr(e))
                    self._conns.pop(sock, None)
                    self.closed_connections += 1
                conn.close()
                return
        try:
            if self.behaviour == "hang":
                while not self._stopping.is_set() and not conn.killed:
                    if not sock.recv(65536):
                        break
                return
            while not self._stopping.is_set() and not conn.killed:
                head = read_head(conn.rfile)
                if head is None or conn.killed:
                    return
                parts = head[0].decode("latin-1").split(" ")
                if len(parts) != 3:
                    raise ProtocolError(f"bad request line {head[0]!r}")
                headers = parse_header_lines(head[1:])
                req = Request(parts[0], parts[1], parts[2], headers, conn_id,
                              chunked=_is_chunked(headers), received_at=time.monotonic())
                with self._lock:
                    self.requests.append(req)
                if self.behaviour == "custom":
                    if self.read_body:
                        conn.read_body(req)
                    assert self.handler is not None
                    if not self.handler(req, conn):
                        return
                    continue
                conn.read_body(req)
                if self.behaviour == "slow":
                    if conn.wait_stop(self.delay):
                        return
                if conn.killed:
                    return
                if self.behaviour == "reset":
                    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + b"r" * self.reset_after)
                    # Let haven read the partial body before the RST discards it.
                    time.sleep(0.2)
                    conn.reset()
                    return
                body = echo_body(self, req, conn)
                close = "close" in req.headers.tokens("connection") or req.version == "HTTP/1.0"
                headers_out = [("Content-Type", "application/json")]
                if close:
                    headers_out.append(("Connection", "close"))
                if req.method == "HEAD":
                    conn.send(build_response(200, b"", headers_out + [("Content-Length", str(len(body)))]))
                else:
                    conn.respond(200, body, headers_out)
                if close:
                    return
        except (OSError, ValueError) as e:  # connection closed under us, or stopped
            if (not self._stopping.is_set() and not conn.killed
                    and not isinstance(e, (ConnectionError, TimeoutError))):
                with self._lock:
                    self.errors.append(f"conn {conn_id}: {e!r}")
        except ProtocolError as e:
            if not conn.killed:
                with self._lock:
                    self.errors.append(f"conn {conn_id}: {e}")
        except Exception as e:  # noqa: BLE001 - a handler bug must be visible in the test
            with self._lock:
                self.errors.append(f"conn {conn_id}: handler raised {e!r}\n{traceback.format_exc()}")
        finally:
            conn.close()   # after kill(): SO_LINGER 0 makes this a RST
            with self._lock:
                self._conns.pop(sock, None)
                self.closed_connections += 1


# ---------------------------------------------------------------------------------------------
# Configuration generator
# ---------------------------------------------------------------------------------------------

def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)          # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(toml_value(x) for x in v) + " ]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, Upstream):
        return json.dumps(v.address)
    raise TypeError(f"cannot write {v!r} as TOML")


DEFAULT_TIMEOUTS = {"connect": "2s", "client": "30s", "server": "30s", "http_request": "10s",
                    "keep_alive": "5s", "tunnel": "1h", "shutdown": "10s"}


def _server_entries(backend_name: str, servers: list) -> list[dict]:
    out = []
    for i, s in enumerate(servers):
        if isinstance(s, Upstream):
            out.append({"name": s.name or f"{backend_name[:1]}{i + 1}", "address": s.address})
        elif isinstance(s, dict):
            entry = dict(s)
            if isinstance(entry.get("address"), Upstream):
                entry["address"] = entry["address"].address
            entry.setdefault("name", f"{backend_name[:1]}{i + 1}")
            out.append(entry)
        else:
            raise TypeError(f"server {s!r}")
    return out


def make_config(backends: dict, *, default_backend: str | None = None, routes: list | None = None,
                frontend: dict | None = None, timeouts: dict | None = None, log: dict | None = None,
                global_: dict | None = None, extra: str = "", tls: dict | None = None) -> str:
    """TOML for one frontend "web" on 127.0.0.1:0.

    backends: name -> list of servers (Upstream objects or dicts such as {"name": "a2",
      "address": upstream, "weight": 3}) or name -> dict of backend keys with a "servers" list.
      Servers without a name are named after the backend's first letter: a1, a2, s1...
    routes: default [{path_prefix = "/api", backend = "api"}] when there is an "api" backend.
    default_backend: default "static" when there is one, else the first backend.
    tls: keys of [frontends.web.tls]; under HAVEN_TEST_TLS=1 the run CA's localhost certificate.
    """
    if tls is None and TLS_MODE:
        cert, key = run_ca().localhost
        tls = {"certificates": [{"cert": cert, "key": key}]}
    g = {"workers": 1, "max_connections": 20000}
    g.update(global_ or {})
    lg = {"access": "stdout", "events": "stderr", "format": "text"}
    lg.update(log or {})
    to = dict(DEFAULT_TIMEOUTS)
    to.update(timeouts or {})
    if default_backend is None:
        default_backend = "static" if "static" in backends else next(iter(backends))
    if routes is None:
        routes = [{"path_prefix": "/api", "backend": "api"}] if "api" in backends and default_backend != "api" else []
    fe = {"bind": "127.0.0.1:0", "default_backend": default_backend, "routes": routes}
    fe.update(frontend or {})
    lines = ["[global]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in g.items()]
    lines += ["", "[log]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in lg.items()]
    lines += ["", "[timeouts]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in to.items()]
    lines += ["", "[frontends.web]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in fe.items()]
    if tls:
        lines += ["", "[frontends.web.tls]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in tls.items()]
    for name, spec in backends.items():
        if isinstance(spec, dict):
            spec = dict(spec)
            servers = spec.pop("servers")
        else:
            servers, spec = spec, {}
        lines += ["", f"[backends.{name}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in spec.items()]
        lines.append(f"servers = {toml_value(_server_entries(name, list(servers)))}")
    if extra:
        lines += ["", extra]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# haven processes
# ---------------------------------------------------------------------------------------------

_LISTEN_RE = re.compile(r"listening on\s+(\S+)")
_FRONTEND_LISTEN_RE = re.compile(r"frontend\s+\"?([A-Za-z0-9_.-]+)\"?\s+listening on\s+(\S+)")


def parse_host_port(text: str) -> tuple[str, int] | None:
    """ "127.0.0.1:8080" or "[::1]:8080" (trailing punctuation such as quotes ignored)."""
    m = re.match(r"\[([0-9A-Fa-f:.%a-z]+)\]:(\d+)|([0-9A-Za-z.-]+):(\d+)", text)
    if not m:
        return None
    if m.group(1):
        return m.group(1), int(m.group(2))
    return m.group(3), int(m.group(4))


def new_temp_dir(prefix: str = "case-") -> str:
    assert _RUN_DIR is not None
    return tempfile.mkdtemp(prefix=prefix, dir=_RUN_DIR)


def run_haven(args: list[str], timeout: float = 10.0, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Runs haven to completion (for --check, --version...), capturing text output."""
    path = haven_path()
    check(os.path.isfile(path) and os.access(path, os.X_OK), f"haven binary not found or not executable: {path}")
    return subprocess.run([path, *args], capture_output=True, timeout=timeout, cwd=cwd,
                          stdin=subprocess.DEVNULL, text=True, errors="replace")


# Fast active checks for failover tests: interval 300ms, timeout 200ms, fall 3, rise 2.
FAST_CHECK = {"path": "/healthz", "interval": "300ms", "timeout": "200ms", "rise": 2, "fall": 3}


def fast_check(**overrides) -> dict:
    out = dict(FAST_CHECK)
    out.update(overrides)
    return out


def down_line(server_id: str, reason: str = r"[^)]*") -> str:
    return rf"server {re.escape(server_id)} is DOWN \({reason}\)"


def up_line(server_id: str, reason: str = r"[^)]*") -> str:
    return rf"server {re.escape(server_id)} is UP \({reason}\)"


def server_entry(upstream: "Upstream", backup: bool = False) -> dict:
    entry = {"name": upstream.name, "address": upstream}
    if backup:
        entry["backup"] = True
    return entry


def api_config(servers: list, check: dict | None = None, timeouts: dict | None = None, log: dict | None = None,
               **backend_keys) -> str:
    """An "api" backend with the given servers (and check), plus a plain "static" backend."""
    api = {"servers": servers}
    if check is not None:
        api["check"] = check
    api.update(backend_keys)
    return make_config({"api": api, "static": [Upstream(name="main_static")]}, timeouts=timeouts, log=log)

class Haven:
    """A running haven: `haven -c DIR/haven.toml`, stdout -> DIR/access.log, stderr -> DIR/events.log."""

    def __init__(self, config_text: str, *, wait_ready: bool = True, ready_timeout: float = 10.0,
                 extra_args: Iterable[str] = (), open_file_limit: int | None = None):
        path = haven_path()
        check(os.path.isfile(path) and os.access(path, os.X_OK), f"haven binary not found or not executable: {path}")
        self.dir = new_temp_dir("haven-")
        self.config_path = os.path.join(self.dir, "haven.toml")
        self.stdout_path = os.path.join(self.dir, "access.log")
        self.stderr_path = os.path.join(self.dir, "events.log")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.config_text = config_text
        self._frontend_names = set(re.findall(r"^\[frontends\.([A-Za-z0-9_-]+)\]\s*(?:#.*)?$", config_text, re.M))
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        def limit_open_files() -> None:
            if open_file_limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_file_limit, open_file_limit))

        self.proc = subprocess.Popen([path, "-c", self.config_path, *extra_args], stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, cwd=self.dir,
                                     preexec_fn=limit_open_files if open_file_limit is not None else None)
        self.pid = self.proc.pid
        self.host = "127.0.0.1"
        self.port = 0
        self.ports: dict[str, int] = {}
        # Clients speak TLS to a "web" frontend with a tls table, trusting the run's CA.
        self.tls_context: ssl.SSLContext | None = (
            run_ca().client_context() if "[frontends.web.tls]" in config_text and TLS_MODE else None)
        with _REGISTRY_LOCK:
            _LIVE_HAVENS.append(self)
        if wait_ready:
            self.wait_ready(ready_timeout)

    def wait_ready(self, timeout: float = 10.0) -> int:
        """Polls the event log for the first `listening on HOST:PORT` line."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.events()
            m = _LISTEN_RE.search(text)
            # haven writes one line per frontend, one after the other: a read between two of them
            # must not pass for all of them.
            listed = {fm.group(1) for fm in _FRONTEND_LISTEN_RE.finditer(text)}
            if m and self._frontend_names <= listed:
                hp = parse_host_port(m.group(1))
                check(hp is not None, f"cannot parse the address in {m.group(0)!r}")
                self.host, self.port = hp
                for fm in _FRONTEND_LISTEN_RE.finditer(text):
                    fhp = parse_host_port(fm.group(2))
                    if fhp:
                        self.ports.setdefault(fm.group(1), fhp[1])
                check(self.port != 0, f"haven reported port 0: {m.group(0)!r}")
                return self.port
            rc = self.proc.poll()
            if rc is not None:
                raise TestFailure(f"haven exited with {rc} before listening; stderr:\n{text[-3000:]}")
            if time.monotonic() >= deadline:
                raise TestFailure(f"haven printed no 'listening on' line within {timeout}s; stderr:\n{text[-3000:]}")
            time.sleep(0.02)

    # -- logs ----------------------------------------------------------------------------------
    @staticmethod
    def _read(path: str) -> str:
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def access_log(self) -> str:
        return self._read(self.stdout_path)

    def access_lines(self) -> list[str]:
        return [line for line in self.access_log().splitlines() if line.strip()]

    def events(self) -> str:
        return self._read(self.stderr_path)

    def wait_access_lines(self, n: int, timeout: float = 5.0) -> list[str]:
        wait_until(lambda: len(self.access_lines()) >= n, timeout, f"{n} access log line(s)")
        return self.access_lines()

    def wait_event(self, pattern: str, timeout: float = 5.0, since: int = 0) -> re.Match:
        """Waits for `pattern` in the event log, from character offset `since` (see event_mark)."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.events(), since), timeout,  # type: ignore[return-value]
                          f"event log line matching {pattern!r}")

    def event_mark(self) -> int:
        """The current end of the event log, for wait_event(since=...)."""
        return len(self.events())

    def event_lines(self, since: int = 0) -> list[str]:
        return [line for line in self.events()[since:].splitlines() if line.strip()]

    # -- process -------------------------------------------------------------------------------
    def vmhwm_kib(self) -> int:
        """Peak resident set size (VmHWM) in KiB."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise TestFailure("no VmHWM in /proc status")

    def running(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit code (negative = signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._close_files()
        return self.proc.returncode

    def kill_if_running(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()

    def _close_files(self) -> None:
        for f in (self._out, self._err):
            try:
                f.close()
            except OSError:
                pass

    # -- admin listener ------------------------------------------------------------------------
    def admin_port(self, timeout: float = 5.0) -> int:
        """The port of the admin listener, from its `admin listening on HOST:PORT` event line."""
        m = self.wait_event(r"admin listening on (\S+)", timeout)
        hp = parse_host_port(m.group(1))
        check(hp is not None, f"cannot parse the admin address in {m.group(0)!r}")
        return hp[1]

    def admin(self, method: str, path: str, body: object = None, headers: dict | None = None,
              timeout: float = 5.0) -> "AdminAnswer":
        """One request to the admin listener; a dict or list body is sent as JSON."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port(), timeout=timeout)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            return AdminAnswer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
        finally:
            conn.close()

    # -- clients -------------------------------------------------------------------------------
    def client(self, timeout: float = 5.0, port: int | None = None) -> "Client":
        return Client(self.host, port or self.port, timeout=timeout, tls=self.tls_context)

    def get(self, target: str, headers: Iterable[tuple[str, str]] = (), timeout: float = 5.0,
            method: str = "GET", body: bytes | None = None) -> "Response":
        """One request on a fresh connection, sent with Connection: close."""
        with self.client(timeout) as c:
            return c.request(method, target, headers=[*headers, ("Connection", "close")], body=body)


@dataclass
class AdminAnswer:
    status: int
    headers: dict
    raw: bytes

    def json(self) -> object:
        try:
            return json.loads(self.raw)
        except ValueError as e:
            raise TestFailure(f"the admin answer is not JSON ({e}): {self.raw[:300]!r}") from None


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)\Z")


def _parse_labels(text: str, line: str) -> tuple[tuple[str, str], ...]:
    """`{a="x",b="y\\"z"}` -> (("a", "x"), ("b", 'y"z')), strictly: every value quoted, escapes
    only \\\\, \\" and \\n, no duplicate names."""
    inner = text[1:-1]
    labels: list[tuple[str, str]] = []
    i = 0
    while i < len(inner):
        eq = inner.find("=", i)
        check(eq > i, f"label without a name in {line!r}")
        name = inner[i:eq]
        check(_LABEL_NAME.match(name) is not None, f"bad label name {name!r} in {line!r}")
        check(eq + 1 < len(inner) and inner[eq + 1] == '"', f"unquoted label value in {line!r}")
        j = eq + 2
        value = []
        while True:
            check(j < len(inner), f"unterminated label value in {line!r}")
            c = inner[j]
            if c == "\\":
                check(j + 1 < len(inner) and inner[j + 1] in '\\"n', f"bad escape in {line!r}")
                value.append("\n" if inner[j + 1] == "n" else inner[j + 1])
                j += 2
                continue
            if c == '"':
                break
            value.append(c)
            j += 1
        labels.append((name, "".join(value)))
        i = j + 1
        if i < len(inner):
            check(inner[i] == ",", f"expected ',' between labels in {line!r}")
            i += 1
    names = [n for n, _ in labels]
    check(len(names) == len(set(names)), f"a label appears twice in {line!r}")
    return tuple(labels)


def parse_prometheus(text: str) -> dict:
    """A strict reader of the Prometheus text format 0.0.4, as a scraper would apply it: every
    family has HELP and TYPE before its samples, samples of a family are contiguous, names and
    labels are well formed, no series appears twice, values are numbers, and histograms have
    cumulative buckets ending in +Inf that equals _count. Returns {(name, labels): value} plus
    "__types__": {family: type}."""
    check(text.endswith("\n"), "the exposition must end with a newline")
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict = {}
    finished: set[str] = set()
    current = None
    for line in text.split("\n")[:-1]:
        check(line.strip() != "", "empty line in the exposition")
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            check(_METRIC_NAME.match(name) is not None, f"bad metric name in {line!r}")
            check(name not in helps, f"HELP twice for {name}")
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            check(len(parts) == 4, f"bad TYPE line {line!r}")
            name, kind = parts[2], parts[3]
            check(kind in ("counter", "gauge", "histogram", "summary", "untyped"), f"bad type in {line!r}")
            check(name not in types, f"TYPE twice for {name}")
            check(name in helps, f"TYPE before HELP for {name}")
            if current is not None:
                finished.add(current)
            types[name] = kind
            current = name
            continue
        check(not line.startswith("#"), f"unexpected comment {line!r}")
        m = _SAMPLE.match(line)
        check(m is not None, f"malformed sample line {line!r}")
        name, label_text, value_text = m.group(1), m.group(2), m.group(3)
        family = name
        if current is not None and types.get(current) == "histogram" and name in (
                current + "_bucket", current + "_sum", current + "_count"):
            family = current
        check(family == current, f"sample {name} outside its family (current: {current})")
        check(family not in finished, f"samples of {family} are not contiguous")
        labels = _parse_labels(label_text, line) if label_text else ()
        try:
            value = float(value_text)
        except ValueError:
            raise TestFailure(f"value is not a number in {line!r}") from None
        key = (name, labels)
        check(key not in samples, f"series twice: {line!r}")
        if types[family] == "counter":
            check(value >= 0, f"negative counter {line!r}")
        samples[key] = value
    for family, kind in types.items():
        if kind != "histogram":
            continue
        groups: dict = {}
        for (name, labels), value in samples.items():
            if name != family + "_bucket":
                continue
            base = tuple(l for l in labels if l[0] != "le")
            le = dict(labels)["le"]
            groups.setdefault(base, []).append((float("inf") if le == "+Inf" else float(le), value))
        for base, buckets in groups.items():
            buckets.sort()
            values = [v for _, v in buckets]
            check(values == sorted(values), f"{family}{base}: buckets are not cumulative")
            check(buckets[-1][0] == float("inf"), f"{family}{base}: no +Inf bucket")
            check(samples.get((family + "_count", base)) == buckets[-1][1], f"{family}{base}: +Inf != _count")
            check((family + "_sum", base) in samples, f"{family}{base}: no _sum")
    samples["__types__"] = types
    return samples


def start_haven(config_text: str, **kwargs) -> Haven:
    return Haven(config_text, **kwargs)


# ---------------------------------------------------------------------------------------------
# Raw client
# ---------------------------------------------------------------------------------------------

@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    interim: list["Response"] = field(default_factory=list)   # 1xx responses before this one
    chunked: bool = False
    chunk_info: ChunkedInfo | None = None
    until_close: bool = False          # body delimited by the connection closing

    def json(self) -> dict:
        return json.loads(self.body)


class Client:
    """A raw HTTP/1.1 client on one TCP connection, with timeouts on every operation."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, tls: ssl.SSLContext | None = None,
                 server_hostname: str = "localhost", session: ssl.SSLSession | None = None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname, session=session)
        self.rfile = self.sock.makefile("rb", buffering=65536)
        self.send_error: OSError | None = None
        with _REGISTRY_LOCK:
            _LIVE_CLIENTS.append(self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for closer in (self.rfile.close, self.sock.close):
            try:
                closer()
            except OSError:
                pass

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout
        self.sock.settimeout(timeout)

    def send(self, data: bytes) -> None:
        """Sends exact bytes. A send refused because the peer already answered and closed (it may
        reject a request before reading all of it) is remembered, not raised: read the answer."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.send_error = e

    def shutdown_write(self) -> None:
        if isinstance(self.sock, ssl.SSLSocket):
            # Python cannot half-close TLS and keep reading (shutdown() drops the TLS layer).
            raise Skip("half-close over TLS: not available to a Python client")
        self.sock.shutdown(socket.SHUT_WR)

    @staticmethod
    def build_request(method: str, target: str, headers: Iterable[tuple[str, str]] = (),
                      body: bytes | None = None, version: str = "HTTP/1.1", host: str | None = "test") -> bytes:
        headers = list(headers)
        names = {n.lower() for n, _ in headers}
        out = [f"{method} {target} {version}\r\n".encode()]
        if host is not None and "host" not in names:
            out.append(f"Host: {host}\r\n".encode())
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            headers.append(("Content-Length", str(len(body))))
        for n, v in headers:
            out.append(f"{n}: {v}\r\n".encode("latin-1"))
        out.append(b"\r\n")
        if body:
            out.append(body)
        return b"".join(out)

    def request(self, method: str, target: str, headers: Iterable[tuple[str, str]] = (),
                body: bytes | None = None, version: str = "HTTP/1.1") -> Response:
        self.send(self.build_request(method, target, headers, body, version))
        return self.read_response(method)

    def read_head(self) -> Response:
        """Reads one status line + headers (no body)."""
        head = read_head(self.rfile)
        if head is None:
            raise TestFailure("connection closed before any response byte")
        status_line = head[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise TestFailure(f"bad status line {status_line!r}")
        return Response(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "",
                        parse_header_lines(head[1:]))

    def read_response(self, method: str = "GET", sink: Callable[[bytes], None] | None = None,
                      stop_at_interim: bool = False) -> Response:
        """Reads a full response: 1xx responses (except 101) are collected in `interim`; the body is
        delimited per RFC 9112 section 6.3. With `sink`, body bytes go to sink(piece) and are not kept."""
        interim = []
        while True:
            resp = self.read_head()
            if 100 <= resp.status < 200 and resp.status != 101:
                interim.append(resp)
                if stop_at_interim:
                    resp.interim = []
                    return resp
                continue
            break
        resp.interim = interim
        if method == "HEAD" or resp.status in (101, 204, 304) or 100 <= resp.status < 200:
            return resp
        pieces: list[bytes] = []
        put = sink if sink is not None else pieces.append
        try:
            if _is_chunked(resp.headers):
                resp.chunked = True
                resp.chunk_info = ChunkedInfo()
                for piece in iter_chunked(self.rfile, resp.chunk_info):
                    put(piece)
            elif resp.headers.has("content-length"):
                values = {v.strip() for v in resp.headers.get_all("content-length")}
                if len(values) != 1 or not next(iter(values)).isdigit():
                    raise TestFailure(f"bad Content-Length in response: {resp.headers.get_all('content-length')}")
                for piece in iter_length(self.rfile, int(next(iter(values)))):
                    put(piece)
            else:
                resp.until_close = True
                for piece in iter_until_close(self.rfile):
                    put(piece)
        except ProtocolError as e:
            raise TestFailure(f"response {resp.status} body: {e}") from None
        resp.body = b"".join(pieces)
        return resp

    def read_available(self, n: int, timeout: float | None = None) -> bytes:
        """Reads exactly n raw bytes (for tunnels)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        out = bytearray()
        while len(out) < n:
            piece = self.rfile.read1(n - len(out))
            if not piece:
                raise TestFailure(f"EOF after {len(out)} of {n} bytes")
            out += piece
        return bytes(out)

    def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Waits for the peer to close; returns whatever bytes came before the close. A reset counts
        as closed. Fails if the connection stays open for `timeout` seconds."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        extra = bytearray()
        try:
            while True:
                piece = self.rfile.read1(65536)
                if not piece:
                    return bytes(extra)
                extra += piece
                if time.monotonic() > deadline:
                    raise TestFailure(f"connection still open (and sending) after {timeout}s")
        except ConnectionResetError:
            return bytes(extra)
        except (TimeoutError, socket.timeout):
            raise TestFailure(f"connection not closed within {timeout}s (got {bytes(extra[:200])!r})") from None
        finally:
            try:
                self.sock.settimeout(self.timeout)
            except OSError:
                pass

    def readable(self, wait: float = 0.0) -> bool:
        """True when bytes or an EOF are waiting on the socket (or arrive within `wait` seconds).
        Bytes already pulled into the read buffer are not seen: use it before reading."""
        r, _, _ = select.select([self.sock], [], [], wait)
        return bool(r)

    def is_open(self, wait: float = 0.2) -> bool:
        """False if the peer closed (EOF or reset) within `wait` seconds, else True."""
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return True
        if isinstance(self.sock, ssl.SSLSocket):
            # No peeking through TLS: a record that is not data (a session ticket) is not a close.
            self.sock.setblocking(False)
            try:
                return self.sock.recv(1) != b""
            except (ssl.SSLWantReadError, BlockingIOError):
                return True
            except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                return False
            finally:
                self.sock.settimeout(self.timeout)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) != b""
        except ConnectionResetError:
            return False
        except (BlockingIOError, TimeoutError, socket.timeout):
            return True


def expect_error_response(client: Client, status: int, method: str = "GET", close: bool = True,
                          timeout: float = 5.0) -> Response:
    """Reads a complete error response with the given status (the body must be complete, per its
    framing) and, if `close`, checks that the connection is then closed (EOF, or a reset that
    came only after the whole response)."""
    client.settimeout(timeout)
    try:
        resp = client.read_response(method)
    except ConnectionResetError:
        raise TestFailure(f"connection reset before a complete {status} response arrived") from None
    except (TimeoutError, socket.timeout):
        raise TestFailure(f"no complete response within {timeout}s (expected {status})") from None
    check_eq(resp.status, status, "response status")
    if close:
        extra = client.wait_closed(timeout)
        check(not extra, f"bytes after the {status} response: {extra[:200]!r}")
    return resp


def connect_refused(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a TCP connection to host:port is refused (nothing listening)."""
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False
