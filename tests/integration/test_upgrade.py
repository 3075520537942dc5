"""Upgrade (WebSocket-style): the 101 reaches the client, then bytes pass both ways untouched."""
import hashlib
import os
import socket
import time

from harness import (Haven, Request, Upstream, UpstreamConn, check, check_eq, make_config, run, test,
                     wait_until)

WS_REQUEST = (b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              b"Origin: http://test\r\n\r\n")


def echo_tunnel(req: Request, conn: UpstreamConn) -> bool:
    """Accepts the upgrade when asked, then echoes raw bytes until EOF."""
    if "websocket" not in req.headers.tokens("upgrade"):
        conn.respond(200, b"no upgrade asked")
        return True
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    while True:
        data = conn.rfile.read1(65536)
        if not data:
            return False
        conn.send(data)


def start(**kwargs) -> tuple[Upstream, Haven]:
    up = Upstream(handler=echo_tunnel, name="s1")
    return up, Haven(make_config({"static": [up]}, **kwargs))


@test
def websocket_upgrade_then_bytes_both_ways() -> None:
    up, haven = start()
    with haven.client() as c:
        c.send(WS_REQUEST)
        resp = c.read_response()
        check_eq(resp.status, 101, "status")
        check("websocket" in resp.headers.tokens("upgrade"), f"Upgrade header missing: {resp.headers}")
        check("upgrade" in resp.headers.tokens("connection"), f"Connection: Upgrade missing: {resp.headers}")
        check_eq(resp.headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Accept")
        for msg in (b"\x81\x05hello", b"\x00\x01\x02\xff binary \r\n\r\n GET / HTTP/1.1\r\n\r\n", b"x" * 5000):
            c.send(msg)
            check_eq(c.read_available(len(msg), timeout=5), msg, "echoed bytes")
    req = up.last_request()
    check("websocket" in req.headers.tokens("upgrade"), f"Upgrade not forwarded: {req.headers}")
    check("upgrade" in req.headers.tokens("connection"), f"Connection: Upgrade not forwarded: {req.headers}")
    check_eq(req.headers.get("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key")


@test
def tunnel_carries_four_mib_both_ways() -> None:
    up, haven = start()
    with haven.client(timeout=10) as c:
        c.send(WS_REQUEST)
        check_eq(c.read_response().status, 101, "status")
        payload = os.urandom(1 << 20) * 4
        # Send and read concurrently in slices so neither side's buffers fill up.
        received = hashlib.sha256()
        got = 0
        for i in range(0, len(payload), 65536):
            c.send(payload[i:i + 65536])
            while got < i + 65536 - 256 * 1024 and got < len(payload):
                piece = c.read_available(min(65536, len(payload) - got), timeout=10)
                received.update(piece)
                got += len(piece)
        while got < len(payload):
            piece = c.read_available(min(65536, len(payload) - got), timeout=10)
            received.update(piece)
            got += len(piece)
        check_eq(received.hexdigest(), hashlib.sha256(payload).hexdigest(), "echoed 4 MiB")


@test
def tunnel_half_close_and_close_propagate() -> None:
    up, haven = start()
    with haven.client() as c:
        c.send(WS_REQUEST)
        check_eq(c.read_response().status, 101, "status")
        c.send(b"last words")
        check_eq(c.read_available(10), b"last words", "echo")
        c.shutdown_write()     # the upstream sees EOF and closes; haven must close the client side
        c.wait_closed(5)
    wait_until(lambda: up.closed_connections >= 1, 5, "the upstream connection to close")


@test
def upgrade_declined_by_upstream_stays_http() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.respond(200, b"plain answer")
        return True

    up = Upstream(handler=handler, name="s1")
    haven = Haven(make_config({"static": [up]}))
    with haven.client() as c:
        c.send(WS_REQUEST)
        resp = c.read_response()
        check_eq(resp.status, 200, "status")
        check_eq(resp.body, b"plain answer", "body")
        check("upgrade" not in resp.headers.tokens("connection"), "Connection: upgrade on a 200")
        if "close" in resp.headers.tokens("connection"):
            c.wait_closed(3)   # closing after a declined upgrade is allowed when announced
        else:
            check_eq(c.request("GET", "/after").body, b"plain answer", "next request still HTTP")


@test
def idle_tunnel_closed_after_tunnel_timeout() -> None:
    up, haven = start(timeouts={"tunnel": "1s"})
    with haven.client() as c:
        c.send(WS_REQUEST)
        check_eq(c.read_response().status, 101, "status")
        c.send(b"ping")
        check_eq(c.read_available(4), b"ping", "echo")
        start_t = time.monotonic()
        c.wait_closed(5)
        elapsed = time.monotonic() - start_t
        check(0.5 <= elapsed <= 4, f"idle tunnel closed after {elapsed:.2f}s with tunnel = 1s")


@test
def active_tunnel_outlives_other_timeouts() -> None:
    """A tunnel is governed by `tunnel`, not by keep_alive/client/server."""
    up, haven = start(timeouts={"keep_alive": "1s", "client": "1s", "server": "1s", "http_request": "1s"})
    with haven.client() as c:
        c.send(WS_REQUEST)
        check_eq(c.read_response().status, 101, "status")
        deadline = time.monotonic() + 2.5
        n = 0
        while time.monotonic() < deadline:
            msg = b"tick %d" % n
            c.send(msg)
            check_eq(c.read_available(len(msg), timeout=3), msg, "echo")
            time.sleep(0.3)
            n += 1
        # Idle for 1.5 s: longer than client/server, shorter than tunnel (1h).
        time.sleep(1.5)
        check(c.is_open(0.0), "tunnel closed after 1.5 s idle although tunnel = 1h")
        c.send(b"still here")
        try:
            check_eq(c.read_available(10, timeout=3), b"still here", "echo after idle")
        except (ConnectionResetError, socket.timeout):
            raise AssertionError("tunnel dead after 1.5 s idle") from None


if __name__ == "__main__":
    run()
