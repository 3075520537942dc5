#!/usr/bin/env python3
"""Opens many idle HTTP/1.1 keep-alive connections and holds them (helper for bench/compare).

  idle_clients.py HOST PORT COUNT [--path /] [--concurrency 256] [--deadline 90] [--tls]

With --tls every connection does a TLS handshake first (certificates are not checked: the point
is the server's memory per connection, not trust).

Each connection sends one GET, reads the whole response, then stays open and idle. When the
target is reached (or the deadline passes) one JSON line is printed on stdout:
  {"held": N, "failed": N, "closed": N, "seconds": S}
Then it waits on stdin: a line "count" prints {"open": N} (connections the server has not
closed); end of input or SIGTERM closes everything and exits. Standard library only.
"""
from __future__ import annotations

import argparse
import errno
import json
import resource
import selectors
import signal
import socket
import ssl
import sys
import time


def raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Conn:
    __slots__ = ("sock", "state", "buf", "need", "raw")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.raw = sock  # the TCP socket (the selector's key, also under TLS)
        self.state = "connecting"
        self.buf = b""
        self.need = -1  # total bytes of the response once the head is parsed


def response_complete(conn: Conn) -> bool | None:
    """True when a whole response is in conn.buf, None when it cannot be framed."""
    if conn.need < 0:
        end = conn.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = conn.buf[:end].decode("latin-1").lower().split("\r\n")
        length = 0
        chunked = False
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip() == "content-length":
                length = int(value.strip())
            elif name.strip() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if chunked:
            return conn.buf.endswith(b"0\r\n\r\n")
        conn.need = end + 4 + length
    return len(conn.buf) >= conn.need


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--path", default="/")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--deadline", type=float, default=90.0)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    raise_nofile(args.count + 256)

    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: haven-bench-idle\r\nAccept: */*\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    held: list[socket.socket] = []
    started = time.monotonic()
    stop_at = started + args.deadline
    opened = failed = closed = 0
    in_flight = 0

    def finish(conn: Conn, ok: bool, keep: bool) -> None:
        nonlocal in_flight, failed, closed
        sel.unregister(conn.raw)
        in_flight -= 1
        if ok and keep:
            held.append(conn.sock)
            return
        if ok:
            closed += 1
        else:
            failed += 1
        conn.sock.close()

    while len(held) + failed + closed < args.count and time.monotonic() < stop_at:
        while in_flight < args.concurrency and opened < args.count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex((args.host, args.port))
            opened += 1
            if err not in (0, errno.EINPROGRESS):
                failed += 1
                sock.close()
                continue
            sel.register(sock, selectors.EVENT_WRITE, Conn(sock))
            in_flight += 1
        for key, _ in sel.select(timeout=1.0):
            conn: Conn = key.data
            try:
                if conn.state == "connecting":
                    if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        finish(conn, False, False)
                        continue
                    if tls is not None:
                        # Wrapping takes the descriptor over: the selector follows the TLS socket.
                        sel.unregister(conn.raw)
                        conn.sock = tls.wrap_socket(conn.raw, server_hostname=args.host,
                                                    do_handshake_on_connect=False)
                        conn.raw = conn.sock
                        sel.register(conn.raw, selectors.EVENT_WRITE, conn)
                        conn.state = "handshaking"
                    else:
                        conn.state = "sending"
                if conn.state == "handshaking":
                    try:
                        conn.sock.do_handshake()
                    except ssl.SSLWantReadError:
                        sel.modify(conn.raw, selectors.EVENT_READ, conn)
                        continue
                    except ssl.SSLWantWriteError:
                        sel.modify(conn.raw, selectors.EVENT_WRITE, conn)
                        continue
                    conn.state = "sending"
                if conn.state == "sending":
                    conn.sock.send(request)  # small enough for an empty socket buffer
                    conn.state = "reading"
                    sel.modify(conn.raw, selectors.EVENT_READ, conn)
                    continue
                try:
                    data = conn.sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue  # a TLS record that was not data (a session ticket)
                if not data:
                    finish(conn, False, False)
                    continue
                conn.buf += data
                done = response_complete(conn)
                if done:
                    keep = b"connection: close" not in conn.buf[: conn.need].lower()
                    finish(conn, True, keep)
            except (OSError, ValueError, ssl.SSLError):
                finish(conn, False, False)

    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    sel.close()

    print(json.dumps({"held": len(held), "failed": failed, "closed": closed,
                      "seconds": round(time.monotonic() - started, 2)}), flush=True)

    for line in sys.stdin:
        if line.strip() == "count":
            still_open = 0
            for sock in held:
                if isinstance(sock, ssl.SSLSocket):
                    sock.setblocking(False)
                    try:
                        still_open += 1 if sock.recv(1) != b"" else 0
                    except ssl.SSLWantReadError:
                        still_open += 1
                    except (OSError, ssl.SSLError):
                        pass
                    continue
                try:
                    if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b"":
                        still_open += 1  # unexpected bytes, but open
                except BlockingIOError:
                    still_open += 1
                except OSError:
                    pass
            print(json.dumps({"open": still_open}), flush=True)
    for sock in held:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
