"""Limits and errors: malformed requests (400, nothing forwarded), oversized heads (431), slow
heads (408), unusable upstreams (502 / 504) and failures in the middle of a response.

Every error response must arrive complete (then EOF for client errors), never a bare reset."""
import time

from harness import (Client, Haven, Request, Response, Upstream, UpstreamConn, check, check_eq,
                     expect_error_response, make_config, run, test)


def single_backend(upstream: Upstream, **kwargs) -> Haven:
    return Haven(make_config({"static": [upstream]}, **kwargs))


def check_still_serving(haven: Haven, up: Upstream, expected_before: int = 0) -> None:
    """Nothing reached the upstream for the bad request; haven still serves a good one."""
    check_eq(up.request_count(), expected_before, "requests at the upstream after the bad request")
    resp = haven.get("/good")
    check_eq(resp.status, 200, "status of a good request afterwards")
    check_eq([r.target for r in up.requests][expected_before:], ["/good"], "requests reaching the upstream")


def check_server_error(c: Client, statuses: tuple[int, ...], timeout: float = 5.0) -> Response:
    """A complete 5xx response; when it announces Connection: close, the close must follow."""
    c.settimeout(timeout)
    try:
        resp = c.read_response()
    except ConnectionResetError:
        raise AssertionError("connection reset before a complete response arrived") from None
    check(resp.status in statuses, f"status {resp.status}, expected one of {statuses}")
    if "close" in resp.headers.tokens("connection"):
        check(not c.wait_closed(timeout), "bytes after the error response")
    return resp


# ---------------------------------------------------------------------------------------------
# Malformed requests: 400, the connection closed, nothing forwarded
# ---------------------------------------------------------------------------------------------

MALFORMED = {
    "no_host": b"GET / HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "content_length_and_chunked": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    "two_different_content_lengths": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                                      b"Content-Length: 6\r\n\r\nhello!"),
    "content_length_not_a_number": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello",
    "content_length_negative": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    # (a coding other than chunked is well-formed but not served: 501, see test_hardening.py)
    "transfer_encoding_chunked_twice": (b"POST / HTTP/1.1\r\nHost: a\r\n"
                                        b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    "empty_header_name": b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
    "control_byte_in_header_value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
    "space_before_colon_in_host": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost: a\r\nX-Foo : x\r\n\r\n",
    "bad_chunk_size": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nhello\r\n0\r\n\r\n"),
    "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n  b\r\n\r\n",
    "long_chunk_extension": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;"
                             + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n"),
    "bad_method_characters": b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "garbage_request_line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "nul_in_target": b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n",
}

# Unsupported versions: 400 per the brief; 505 is the other defensible answer.
BAD_VERSIONS = {
    "http2_request_line": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "http12_request_line": b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    "version_garbage": b"GET / HTTP/x.y\r\nHost: a\r\n\r\n",
}


def _malformed_case(name: str, wire: bytes, statuses: tuple[int, ...]):
    def case() -> None:
        up = Upstream(name="s1")
        haven = single_backend(up)
        with haven.client() as c:
            c.send(wire)
            c.settimeout(5)
            try:
                resp = c.read_response()
            except ConnectionResetError:
                raise AssertionError("connection reset before a complete response arrived") from None
            check(resp.status in statuses, f"status {resp.status}, expected one of {statuses}")
            check(not c.wait_closed(5), "bytes after the error response")
        check_still_serving(haven, up)
    case.__name__ = f"malformed_{name}"
    return case


for _name, _wire in MALFORMED.items():
    test(_malformed_case(_name, _wire, (400,)))
for _name, _wire in BAD_VERSIONS.items():
    test(_malformed_case(_name, _wire, (400, 505)))


@test
def malformed_second_request_after_a_good_one() -> None:
    """A parse error on a keep-alive connection: the first answer is intact, then 400 and close."""
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        check_eq(c.read_response().json()["target"], "/first", "first response")
        c.send(b"GET /second HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        expect_error_response(c, 400)
    check_still_serving(haven, up, expected_before=1)


# ---------------------------------------------------------------------------------------------
# Limits: 431
# ---------------------------------------------------------------------------------------------

@test
def request_head_over_16k_gets_431() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
        expect_error_response(c, 431)
    check_still_serving(haven, up)


@test
def request_head_far_over_limit_gets_431() -> None:
    """256 KiB of headers: haven stops reading at its limit and answers; the unread rest must not
    turn the answer into a reset."""
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
        for i in range(256):
            c.send(b"X-F%d: %s\r\n" % (i, b"f" * 1000))
        c.send(b"\r\n")
        expect_error_response(c, 431)
    check_still_serving(haven, up)


@test
def request_head_of_15k_accepted() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    value = "b" * (15 * 1024)
    with haven.client() as c:
        resp = c.request("GET", "/big-ok", headers=[("X-Big", value)])
        check_eq(resp.status, 200, "status")
    check_eq(up.last_request().headers.get("x-big"), value, "header value at the upstream")


@test
def request_with_101_headers_gets_431() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"\r\n")
        expect_error_response(c, 431)
    check_still_serving(haven, up)


@test
def request_with_100_headers_accepted() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"GET /hundred HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(99)) + b"\r\n")
        check_eq(c.read_response().status, 200, "status")
    check_eq(up.last_request().headers.get("x-h98"), "v", "last header at the upstream")


# ---------------------------------------------------------------------------------------------
# Client timeouts: 408
# ---------------------------------------------------------------------------------------------

@test
def slow_request_head_gets_408() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up, timeouts={"http_request": "1s"})
    with haven.client() as c:
        start = time.monotonic()
        c.send(b"GET /slow-head HTTP/1.1\r\nHost: a\r\nX-Part")
        expect_error_response(c, 408, timeout=4)
        elapsed = time.monotonic() - start
        check(0.8 <= elapsed <= 3.0, f"408 after {elapsed:.2f}s with http_request = 1s")
    check_still_serving(haven, up)


@test
def trickling_request_head_gets_408() -> None:
    """http_request bounds the whole head, not the gap between bytes."""
    up = Upstream(name="s1")
    haven = single_backend(up, timeouts={"http_request": "1s"})
    with haven.client() as c:
        start = time.monotonic()
        c.send(b"GET /trickle HTTP/1.1\r\nHost: a\r\n")
        while time.monotonic() - start < 3.0 and not c.readable(0.2):
            c.send(b"X-T: 1\r\n")
        expect_error_response(c, 408, timeout=2)
        elapsed = time.monotonic() - start
        check(elapsed <= 3.5, f"408 after {elapsed:.2f}s of trickling with http_request = 1s")
    check_still_serving(haven, up)


@test
def silent_connection_closed() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up, timeouts={"http_request": "1s", "keep_alive": "1s"})
    with haven.client() as c:
        start = time.monotonic()
        c.wait_closed(4)   # a 408 or a plain close are both fine for a connection that sent nothing
        check(time.monotonic() - start >= 0.5, "silent connection closed at once")
    check_still_serving(haven, up)


@test
def client_stalling_mid_body_is_cut() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.read_body(req)
        conn.respond(200, b"full body read")
        return True

    up = Upstream(handler=handler, read_body=False, name="s1")
    haven = single_backend(up, timeouts={"client": "1s", "http_request": "1s"})
    with haven.client() as c:
        c.send(b"POST /stall HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        start = time.monotonic()
        c.wait_closed(5)   # possibly after a 408
        elapsed = time.monotonic() - start
        check(elapsed <= 4, f"stalled upload kept open {elapsed:.2f}s with client = 1s")
    check(not any(r.complete for r in up.requests), "upstream got a complete body")


# ---------------------------------------------------------------------------------------------
# Upstream failures: 502 / 504
# ---------------------------------------------------------------------------------------------

@test
def refused_upstream_gets_502() -> None:
    # The brief says 502; architecture.md says a connect failure on every server ends in the
    # maintenance 503. Either is a complete, well-formed answer.
    up = Upstream("refuse", name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(c.build_request("GET", "/refused"))
        check_server_error(c, (502, 503))


@test
def error_response_to_head_has_no_body() -> None:
    up = Upstream("refuse", name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(c.build_request("HEAD", "/refused"))
        c.settimeout(5)
        resp = c.read_response("HEAD")
        check(resp.status in (502, 503), f"status {resp.status}")
        if "close" in resp.headers.tokens("connection"):
            extra = c.wait_closed(5)
        else:
            extra = b"" if not c.readable(0.3) else c.sock.recv(65536)
        check(not extra, f"body bytes after a HEAD error response: {extra[:200]!r}")


@test
def hanging_upstream_gets_504() -> None:
    up = Upstream("hang", name="s1")
    haven = single_backend(up, timeouts={"server": "1s"})
    with haven.client() as c:
        start = time.monotonic()
        c.send(c.build_request("GET", "/hang"))
        check_server_error(c, (504,), timeout=4)
        elapsed = time.monotonic() - start
        check(0.8 <= elapsed <= 3.0, f"504 after {elapsed:.2f}s with server = 1s")


def _bad_response_case(name: str, raw: bytes):
    def case() -> None:
        def handler(req: Request, conn: UpstreamConn) -> bool:
            conn.send(raw)
            time.sleep(0.2)
            return False

        up = Upstream(handler=handler, name="s1")
        haven = single_backend(up)
        with haven.client() as c:
            c.send(c.build_request("GET", "/bad"))
            check_server_error(c, (502,))
    case.__name__ = f"invalid_upstream_response_{name}_gets_502"
    return case


BAD_RESPONSES = {
    "status_not_a_number": b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok",
    "bogus_content_length": b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nok",
    "two_content_lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "not_http": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "empty_close": b"",
}
for _name, _raw in BAD_RESPONSES.items():
    test(_bad_response_case(_name, _raw))


@test
def upstream_reset_mid_body_cuts_client_connection() -> None:
    """Once the head went out there is no error page to send: the client must see the connection
    end before the announced length (never a silently complete-looking body), and haven lives on."""
    up = Upstream("reset", name="s1", reset_after=5000)
    healthy = Upstream(name="a1")
    haven = Haven(make_config({"api": [healthy], "static": [up]}))
    with haven.client() as c:
        c.send(c.build_request("GET", "/reset"))
        resp = c.read_head()
        check_eq(resp.status, 200, "status")
        try:
            rest = c.wait_closed(5)
        except ConnectionResetError:
            rest = b""
        check(len(rest) < 1048576, "the whole announced body arrived though the upstream reset")
    check_eq(haven.get("/api/after").status, 200, "next request (to a healthy backend)")


@test
def upstream_stalling_mid_body_cuts_client_connection() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"s" * 100)
        conn.wait_stop(30)
        return False

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up, timeouts={"server": "1s"})
    with haven.client() as c:
        c.send(c.build_request("GET", "/stall"))
        check_eq(c.read_head().status, 200, "status")
        start = time.monotonic()
        c.wait_closed(5)
        elapsed = time.monotonic() - start
        check(elapsed <= 3.5, f"client waited {elapsed:.2f}s for a stalled upstream with server = 1s")


@test
def upstream_error_statuses_pass_through() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        status = int(req.path.strip("/"))
        conn.respond(status, f"upstream says {status}".encode())
        return True

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for status in (404, 500, 502, 503, 418):
            resp = c.request("GET", f"/{status}")
            check_eq(resp.status, status, "status")
            check_eq(resp.body, f"upstream says {status}".encode(), "body")


if __name__ == "__main__":
    run()
