"""Header handling: hop-by-hop headers removed both ways, X-Forwarded-For / -Proto added,
end-to-end headers kept."""
from harness import (Haven, Request, Upstream, UpstreamConn, check, check_eq, make_config, run, test)


def single_backend(upstream: Upstream) -> Haven:
    return Haven(make_config({"static": [upstream]}))


@test
def request_hop_by_hop_headers_removed() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        resp = c.request("GET", "/hop", headers=[
            ("Connection", "close, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "300"),
            ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Upgrade", "foo"),
            ("X-Kept", "yes")])
        check_eq(resp.status, 200, "status")
    req = up.last_request()
    names = req.headers.names()
    for name in ("x-secret", "keep-alive", "proxy-connection", "te", "upgrade"):
        check(name not in names, f"hop-by-hop header {name} reached the upstream: {req.headers}")
    check("close" not in req.headers.tokens("connection"), "client's Connection: close reached the upstream")
    check("x-secret" not in req.headers.tokens("connection"), "Connection: X-Secret reached the upstream")
    check_eq(req.headers.get("x-kept"), "yes", "end-to-end header X-Kept")


@test
def connection_listed_headers_removed_case_insensitively() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.request("GET", "/hop2", headers=[("Connection", "x-one"), ("connection", "X-TWO , keep-alive"),
                                           ("X-One", "1"), ("x-two", "2"), ("X-Three", "3")])
    req = up.last_request()
    names = req.headers.names()
    check("x-one" not in names and "x-two" not in names, f"Connection-listed headers forwarded: {req.headers}")
    check_eq(req.headers.get("x-three"), "3", "X-Three")


@test
def x_forwarded_for_and_proto_added() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    haven.get("/xff")
    req = up.last_request()
    check_eq(req.headers.get_all("x-forwarded-for"), ["127.0.0.1"], "X-Forwarded-For")
    check_eq(req.headers.get_all("x-forwarded-proto"), ["http"], "X-Forwarded-Proto")


@test
def x_forwarded_for_appended() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    haven.get("/xff", headers=[("X-Forwarded-For", "1.2.3.4")])
    req = up.last_request()
    check_eq(", ".join(req.headers.get_all("x-forwarded-for")), "1.2.3.4, 127.0.0.1", "X-Forwarded-For")
    haven.get("/xff", headers=[("X-Forwarded-For", "1.2.3.4, 5.6.7.8")])
    req = up.last_request()
    check_eq(", ".join(req.headers.get_all("x-forwarded-for")), "1.2.3.4, 5.6.7.8, 127.0.0.1",
             "X-Forwarded-For with two hops")


@test
def client_x_forwarded_proto_not_trusted_blindly() -> None:
    """haven speaks plain HTTP here: whatever the client claims, the upstream learns `http` (one
    X-Forwarded-Proto value, haven's own)."""
    up = Upstream(name="s1")
    haven = single_backend(up)
    haven.get("/proto", headers=[("X-Forwarded-Proto", "https")])
    values = up.last_request().headers.get_all("x-forwarded-proto")
    check(values and values[-1].split(",")[-1].strip() == "http", f"X-Forwarded-Proto: {values}")


@test
def response_hop_by_hop_headers_removed() -> None:
    def handler(req: Request, conn: UpstreamConn) -> bool:
        conn.respond(200, b"resp", [("Connection", "X-Drop"), ("X-Drop", "1"), ("Keep-Alive", "timeout=5"),
                                    ("Proxy-Connection", "keep-alive"), ("X-Keep", "k"),
                                    ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return True

    up = Upstream(handler=handler, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        resp = c.request("GET", "/resp-hop")
        check_eq(resp.body, b"resp", "body")
        names = resp.headers.names()
        for name in ("x-drop", "keep-alive", "proxy-connection"):
            check(name not in names, f"hop-by-hop response header {name} reached the client: {resp.headers}")
        check("x-drop" not in resp.headers.tokens("connection"), "Connection: X-Drop reached the client")
        check_eq(resp.headers.get("x-keep"), "k", "X-Keep")
        check_eq(resp.headers.get_all("set-cookie"), ["a=1", "b=2"], "repeated Set-Cookie headers")
        check_eq(c.request("GET", "/again").status, 200, "next request on the same connection")


@test
def repeated_and_unusual_request_headers_kept() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    haven.get("/multi", headers=[("X-Multi", "one"), ("X-Multi", "two"), ("Cookie", "a=1; b=2"),
                                 ("X-Empty", ""), ("X-Spaces", "a  b\tc"), ("X-Utf8", "caf\xe9")])
    req = up.last_request()
    check_eq(req.headers.get_all("x-multi"), ["one", "two"], "repeated X-Multi")
    check_eq(req.headers.get("cookie"), "a=1; b=2", "Cookie")
    check_eq(req.headers.get("x-empty"), "", "empty X-Empty")
    check_eq(req.headers.get("x-spaces"), "a  b\tc", "inner whitespace")
    check_eq(req.headers.get("x-utf8"), "caf\xe9", "obs-text byte")


if __name__ == "__main__":
    run()
