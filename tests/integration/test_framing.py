"""Message framing: chunked both ways, read-until-close responses, pipelining, bodiless responses
(HEAD, 204, 304) and Expect: 100-continue."""
import json
import time

from harness import (Haven, Request, Upstream, UpstreamConn, check, check_eq,
                     encode_chunked, make_config, run, test, wait_until)


def single_backend(upstream: Upstream, **kwargs) -> Haven:
    return Haven(make_config({"static": [upstream]}, **kwargs))


def check_upstream_clean(up: Upstream) -> None:
    check(not up.errors, f"upstream saw malformed traffic: {up.errors}")


@test
def chunked_request_with_extensions_and_trailers() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    body = bytes(range(256)) * 40 + b"end"
    wire = (b"5;ext=1\r\n" + body[:5] + b"\r\n"
            + b"1000;name=\"quoted;value\"\r\n" + body[5:5 + 0x1000] + b"\r\n"
            + b"%x\r\n" % (len(body) - 5 - 0x1000) + body[5 + 0x1000:] + b"\r\n"
            + b"0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")
    with haven.client() as c:
        c.send(b"POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + wire)
        resp = c.read_response()
        check_eq(resp.status, 200, "status")
        req = up.last_request()
        check(req.complete, "upstream did not receive the whole body")
        check_eq(req.body, body, "body bytes at the upstream")
        framing = "chunked" if req.chunked else f"Content-Length {req.headers.get('content-length')}"
        check(req.chunked or req.headers.get("content-length") == str(len(body)), f"framing upstream: {framing}")
        check(not (req.chunked and req.headers.has("content-length")), "both chunked and Content-Length upstream")
        # Framing left nothing behind: the next request on the same connection is parsed cleanly.
        resp2 = c.request("GET", "/next")
        check_eq(resp2.json()["target"], "/next", "next request's target")
    check_eq([r.target for r in up.requests], ["/chunked", "/next"], "requests at the upstream")
    check_upstream_clean(up)


@test
def chunked_request_split_across_many_writes() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    body = b"0123456789abcdef" * 300
    wire = b"POST /split HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + encode_chunked(body, 333)
    with haven.client() as c:
        for i in range(0, len(wire), 7):   # split inside size lines, CRLFs and data
            c.send(wire[i:i + 7])
            if i % 700 == 0:
                time.sleep(0.001)
        check_eq(c.read_response().status, 200, "status")
    check_eq(up.last_request().body, body, "body at the upstream")
    check_upstream_clean(up)


@test
def chunked_response_reaches_client_intact() -> None:
    body = b"".join(b"line %d\n" % i for i in range(2000))

    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
        for i in range(0, len(body), 1234):
            piece = body[i:i + 1234]
            conn.send(b"%x;chunk=%d\r\n" % (len(piece), i) + piece + b"\r\n")
        conn.send(b"0\r\nX-Trailer: t\r\n\r\n")
        return True

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for _ in range(3):
            resp = c.request("GET", "/chunked-out")
            check_eq(resp.status, 200, "status")
            check_eq(resp.body, body, "body")
            check(resp.chunked or resp.headers.get("content-length") == str(len(body)),
                  "response framing neither chunked nor a correct Content-Length")
            check(not resp.until_close, "a chunked upstream response became close-delimited")
    check_eq(up.connections, 1, "upstream connections")


@test
def read_until_close_response_reaches_http11_client() -> None:
    body = b"".join(b"no length %d\n" % i for i in range(5000))

    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        for i in range(0, len(body), 4000):
            conn.send(body[i:i + 4000])
        return False   # the close ends the body

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        resp = c.request("GET", "/until-close")
        check_eq(resp.status, 200, "status")
        check_eq(len(resp.body), len(body), "body length")
        check_eq(resp.body, body, "body")
        if resp.chunked:
            # haven re-framed it: the client connection stays usable.
            check_eq(c.request("GET", "/until-close").body, body, "second body")


@test
def read_until_close_response_with_slow_tail() -> None:
    """The close comes a moment after the last byte: haven must wait for it, not cut the body."""
    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst part;")
        time.sleep(0.3)
        conn.send(b"second part")
        time.sleep(0.3)
        return False

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        check_eq(c.request("GET", "/tail").body, b"first part;second part", "body")


@test
def pipelined_requests_answered_in_order() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    paths = ["/p/1", "/p/two", "/p/3?x=y", "/p/four", "/p/5"]
    with haven.client() as c:
        c.send(b"".join(c.build_request("GET", p) for p in paths))
        for p in paths:
            resp = c.read_response()
            check_eq(resp.status, 200, f"status for {p}")
            check_eq(resp.json()["target"], p, "response order")
        check(c.is_open(0.1), "connection closed after pipelined requests")
    check_eq([r.target for r in up.requests], paths, "order at the upstream")


@test
def pipelined_requests_with_bodies_and_slow_first_answer() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        if req.path == "/slow":
            time.sleep(0.5)
        conn.respond(200, json.dumps({"target": req.target, "body": (req.body or b"").decode()}).encode())
        return True

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    reqs = [("GET", "/slow", None), ("POST", "/b1", b"first body"),
            ("POST", "/b2", None), ("HEAD", "/h", None), ("GET", "/last", None)]
    with haven.client() as c:
        wire = b""
        for method, target, body in reqs:
            if method == "POST" and body is None:
                wire += (b"POST /b2 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + encode_chunked(b"chunked second body", 5))
            else:
                wire += c.build_request(method, target, body=body)
        c.send(wire)
        expected = [("/slow", ""), ("/b1", "first body"), ("/b2", "chunked second body"), None, ("/last", "")]
        for (method, target, _), exp in zip(reqs, expected):
            resp = c.read_response(method)
            check_eq(resp.status, 200, f"status for {target}")
            if exp is None:
                check_eq(resp.body, b"", "HEAD body")
            else:
                got = resp.json()
                check_eq((got["target"], got["body"]), exp, "response order and body")


@test
def head_response_has_no_body_and_connection_stays_usable() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        resp = c.request("HEAD", "/head")
        check_eq(resp.status, 200, "HEAD status")
        check(resp.headers.has("content-length"), "Content-Length of the HEAD response dropped")
        check(int(resp.headers.get("content-length")) > 0, "Content-Length of the HEAD response")
        # If haven sent body bytes after the HEAD response, they would corrupt this next response.
        resp2 = c.request("GET", "/after-head")
        check_eq(resp2.status, 200, "GET status")
        check_eq(resp2.json()["target"], "/after-head", "target")
        check_eq(resp2.json()["method"], "GET", "method")
    check_eq(up.requests[0].method, "HEAD", "method at the upstream")


@test
def head_with_chunked_headers_has_no_body() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        if req.method == "HEAD":
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            conn.respond(200, b"plain")
        return True

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        check_eq(c.request("HEAD", "/h").status, 200, "HEAD status")
        check_eq(c.request("GET", "/g").body, b"plain", "next body")


@test
def status_204_and_304_have_no_body() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        if req.path == "/204":
            conn.send(b"HTTP/1.1 204 No Content\r\nX-Test: a\r\n\r\n")
        elif req.path == "/304":
            conn.send(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1234\r\n\r\n")
        else:
            conn.respond(200, f"body of {req.path}".encode())
        return True

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for _ in range(2):
            r = c.request("GET", "/204")
            check_eq(r.status, 204, "status")
            check_eq(r.headers.get("x-test"), "a", "X-Test header")
            check_eq(c.request("GET", "/a").body, b"body of /a", "body after 204")
            r = c.request("GET", "/304", headers=[("If-None-Match", '"v1"')])
            check_eq(r.status, 304, "status")
            check_eq(r.headers.get("etag"), '"v1"', "ETag")
            check_eq(c.request("GET", "/b").body, b"body of /b", "body after 304")
    check_eq(up.connections, 1, "upstream connections")


@test
def expect_100_continue_forwarded() -> None:
    body = b"payload after continue" * 10

    def handler(req: Request, conn: UpstreamConn) -> bool:
        if req.method != "POST":
            conn.respond(200, b"plain")
            return True
        check("100-continue" in req.headers.tokens("expect"), "Expect: 100-continue not forwarded")
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        data = conn.read_body(req)
        conn.respond(200, b"got " + data)
        return True

    up = Upstream(handler=handler, read_body=False, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
               % len(body))
        interim = c.read_response("POST", stop_at_interim=True)
        check_eq(interim.status, 100, "interim status")
        c.send(body)
        resp = c.read_response("POST")
        check_eq(resp.status, 200, "final status")
        check_eq(resp.body, b"got " + body, "final body")
        check_eq(c.request("GET", "/x").status, 200, "next request")
    check(up.requests[0].complete, "body incomplete at the upstream")
    check(not up.errors, f"upstream errors: {up.errors}")


@test
def expect_100_continue_rejected_by_upstream() -> None:
    """The upstream answers 417 without reading the body; the client (which sent no body) gets it."""
    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.respond(417, b"no thanks", [("Connection", "close")], reason="Expectation Failed")
        return False

    up = Upstream(handler=handler, read_body=False, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
        resp = c.read_response("POST")
        check_eq(resp.status, 417, "status")
        check_eq(resp.body, b"no thanks", "body")


@test
def interim_103_then_final() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        conn.respond(200, b"final")
        return True

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        resp = c.request("GET", "/hints")
        check_eq(resp.status, 200, "final status")
        check_eq(resp.body, b"final", "final body")
        check_eq(c.request("GET", "/again").body, b"final", "next body")


@test
def request_body_with_content_length_zero_and_large_headers() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    big = "v" * 8000
    with haven.client() as c:
        resp = c.request("POST", "/empty", headers=[("Content-Length", "0"), ("X-Big", big)])
        check_eq(resp.status, 200, "status")
        req = up.last_request()
        check_eq(req.body, b"", "body")
        check_eq(req.headers.get("x-big"), big, "large header value")
        wait_until(lambda: up.request_count() == 1, 1, "one request")


if __name__ == "__main__":
    run()
