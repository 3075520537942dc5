"""One test per fixed bug, named after what broke."""
import hashlib
import signal
import socket
import threading
import time

from harness import (Haven, Request, Upstream, UpstreamConn, check, check_eq, make_config, run, test)

WS_REQUEST = (b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


@test
def upload_to_a_slow_reading_server_arrives_whole() -> None:
    # Keeps haven's upstream writes pending for a long time while client bytes keep arriving. (The
    # bug where bytes that landed during a pending write were never forwarded needs the client's
    # last bytes to arrive exactly then, which loopback buffers make too rare to pin down here.)
    body = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than the socket buffers on the way hold

    def slow_reader(req: Request, conn: UpstreamConn) -> bool:
        digest = hashlib.sha256()
        size = 0
        time.sleep(0.3)  # everything the client sends piles up in haven meanwhile
        for piece in conn.iter_body(req):
            digest.update(piece)
            size += len(piece)
            time.sleep(0.003)
        conn.respond(200, f"{size} {digest.hexdigest()}".encode())
        return True

    up = Upstream(handler=slow_reader, read_body=False, name="s1")
    haven = Haven(make_config({"static": [up]}, timeouts={"client": "5s", "server": "10s"}))
    with haven.client(timeout=20) as c:
        resp = c.request("POST", "/slow-reader", body=body)
    check_eq(resp.status, 200, "status")
    check_eq(resp.body.decode(), f"{len(body)} {hashlib.sha256(body).hexdigest()}", "body at the server")


@test
def long_upload_is_not_cut_by_the_server_timeout() -> None:
    # The server timeout is about a server gone silent; a server reading a long upload is busy, not
    # silent (it used to get 504 after timeouts.server, counted as a server failure).
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, timeouts={"server": "1s", "client": "5s"}))
    piece = b"u" * 65536
    pieces = 12
    with haven.client(timeout=10) as c:
        c.send(f"POST /long-upload HTTP/1.1\r\nHost: t\r\nContent-Length: {len(piece) * pieces}\r\n\r\n".encode())
        for _ in range(pieces):
            c.send(piece)
            time.sleep(0.2)  # 2.4 s in all, more than twice the server timeout
        resp = c.read_response()
    check_eq(resp.status, 200, "status")
    check_eq(len(up.last_request().body), len(piece) * pieces, "bytes at the server")


@test
def slow_client_download_is_not_cut_as_a_server_timeout() -> None:
    # While the client does not read, haven stops reading the server; that wait is the client's,
    # so the server timeout must not end the exchange (it used to abort it as server_timeout).
    body = b"d" * (16 << 20)

    def big(req: Request, conn: UpstreamConn) -> bool:
        conn.respond(200, body)
        return True

    up = Upstream(handler=big, name="s1")
    haven = Haven(make_config({"static": [up]}, timeouts={"server": "1s", "client": "10s"}))
    with haven.client(timeout=15) as c:
        c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        head = c.read_head()
        check_eq(head.status, 200, "status")
        first = c.read_available(1 << 20, timeout=5)
        time.sleep(2.5)  # not reading: every buffer on the way fills up
        got = len(first)
        while got < len(body):
            got += len(c.read_available(min(1 << 20, len(body) - got), timeout=5))
    check_eq(got, len(body), "bytes received")


@test
def content_length_zero_reaches_the_server() -> None:
    # An empty POST used to lose its Content-Length: 0 on the way, and servers that require a
    # length answer 411.
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}))
    with haven.client() as c:
        c.send(b"POST /empty HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        check_eq(c.read_response().status, 200, "status")
    check_eq(up.last_request().headers.get("content-length"), "0", "Content-Length at the server")


@test
def one_way_tunnel_traffic_keeps_the_tunnel_alive() -> None:
    # A WebSocket where only the server talks: the tunnel timeout is idle time in both directions
    # together (it used to close the tunnel because the client side was quiet).
    stop = threading.Event()

    def pusher(req: Request, conn: UpstreamConn) -> bool:
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        while not stop.is_set():
            conn.send(b"tick\n")
            time.sleep(0.25)
        return False

    up = Upstream(handler=pusher, name="s1")
    haven = Haven(make_config({"static": [up]}, timeouts={"tunnel": "1s"}))
    try:
        with haven.client(timeout=5) as c:
            c.send(WS_REQUEST)
            check_eq(c.read_response().status, 101, "status")
            deadline = time.monotonic() + 2.5
            received = b""
            while time.monotonic() < deadline:
                received += c.read_available(64, timeout=2)
            check(received.count(b"tick") >= 6, f"ticks received: {received!r}")
    finally:
        stop.set()


@test
def a_second_sigterm_does_not_cut_the_drain() -> None:
    # Closing the signal watchers at the first SIGTERM gave the signal its default action back, so a
    # second one (a supervisor repeating itself, Ctrl-C then TERM) killed haven mid-drain.
    up = Upstream("slow", name="s1", delay=1.5)
    haven = Haven(make_config({"static": [up]}))
    with haven.client(timeout=10) as c:
        c.send(c.build_request("GET", "/draining"))
        up.wait_requests(1, timeout=5)
        haven.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        haven.proc.send_signal(signal.SIGTERM)
        haven.proc.send_signal(signal.SIGINT)
        resp = c.read_response()
        check_eq(resp.status, 200, "status of the request in flight")
    check_eq(haven.wait(5), 0, "exit code")
    haven.wait_event(r"received SIGTERM again")


@test
def start_up_failure_on_a_busy_port_exits_cleanly() -> None:
    # A listener that failed to open was destroyed with its timer still known to libuv: the error
    # path could corrupt memory instead of exiting 1.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        up = Upstream(name="s1")
        haven = Haven(make_config({"static": [up]}, frontend={"bind": f"127.0.0.1:{port}"}), wait_ready=False)
        code = haven.wait(10)
        check_eq(code, 1, "exit code")
        haven.wait_event(r"cannot listen on 127\.0\.0\.1:%d" % port)
    finally:
        busy.close()


if __name__ == "__main__":
    run()
