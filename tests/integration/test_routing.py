"""Routing: segment-aware path prefixes, default backend, target passed through unchanged."""
from harness import Haven, Skip, Upstream, check_eq, ipv6_available, make_config, run, test


def two_backends() -> tuple[Upstream, Upstream, Haven]:
    api = Upstream(name="a1")
    static = Upstream(name="s1")
    haven = Haven(make_config({"api": [api], "static": [static]}))
    return api, static, haven


@test
def api_prefix_goes_to_api_backend() -> None:
    api, static, haven = two_backends()
    for target in ("/api", "/api/", "/api/x", "/api/x/y.json", "/api?x", "/api?q=1&r=2", "/api/x?y=/z"):
        resp = haven.get(target)
        check_eq(resp.status, 200, f"status for {target}")
        check_eq(resp.json()["server"], "a1", f"server answering {target}")
        check_eq(api.last_request().target, target, "target seen by the api upstream")
    check_eq(static.request_count(), 0, "requests at static")


@test
def other_paths_go_to_default_backend() -> None:
    api, static, haven = two_backends()
    for target in ("/", "/apis", "/apix/y", "/ap", "/index.html", "/static/app.js?v=3", "/x/api"):
        resp = haven.get(target)
        check_eq(resp.status, 200, f"status for {target}")
        check_eq(resp.json()["server"], "s1", f"server answering {target}")
        check_eq(static.last_request().target, target, "target seen by the static upstream")
    check_eq(api.request_count(), 0, "requests at api")


@test
def routes_tried_in_declared_order() -> None:
    special = Upstream(name="x1")
    api = Upstream(name="a1")
    static = Upstream(name="s1")
    cfg = make_config({"special": [special], "api": [api], "static": [static]},
                      routes=[{"path_prefix": "/api/special", "backend": "special"},
                              {"path_prefix": "/api", "backend": "api"}])
    haven = Haven(cfg)
    check_eq(haven.get("/api/special/1").json()["server"], "x1", "/api/special/1")
    check_eq(haven.get("/api/special").json()["server"], "x1", "/api/special")
    check_eq(haven.get("/api/specialty").json()["server"], "a1", "/api/specialty")
    check_eq(haven.get("/api/other").json()["server"], "a1", "/api/other")
    check_eq(haven.get("/").json()["server"], "s1", "/")


@test
def method_body_and_end_to_end_headers_pass_through() -> None:
    api, static, haven = two_backends()
    body = b'{"hello": "world"}'
    resp = haven.get("/api/items", method="POST", body=body,
                     headers=[("Content-Type", "application/json"), ("X-Custom", "abc def"),
                              ("Accept", "application/json")])
    check_eq(resp.status, 200, "status")
    req = api.last_request()
    check_eq(req.method, "POST", "method")
    check_eq(req.body, body, "body")
    check_eq(req.headers.get("x-custom"), "abc def", "X-Custom")
    check_eq(req.headers.get("content-type"), "application/json", "Content-Type")
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        resp = haven.get("/api/m", method=method, body=b"m" if method in ("PUT", "PATCH") else None)
        check_eq(resp.status, 200, f"{method} status")
        check_eq(api.last_request().method, method, "method seen upstream")


@test
def ipv6_upstream_and_frontend() -> None:
    if not ipv6_available():
        raise Skip("no IPv6 loopback here")
    api = Upstream(name="a1", host="::1")
    static = Upstream(name="s1")
    cfg = make_config({"api": [api], "static": [static]}, frontend={"bind": "[::1]:0"})
    haven = Haven(cfg)
    check_eq(haven.host, "::1", "host in the listening line")
    check_eq(haven.get("/api/v6").json()["server"], "a1", "server for /api/v6")
    check_eq(haven.get("/").json()["server"], "s1", "server for /")
    check_eq(api.last_request().headers.get("x-forwarded-for"), "::1", "X-Forwarded-For from ::1")


if __name__ == "__main__":
    run()
