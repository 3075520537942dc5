"""Last-good copies ([backends.NAME.stale_if_error]): what is kept (each eligibility rule), what a
visitor gets while the servers are down, time out or answer 5xx (the copy, with Age and
X-Haven-Stale: 1), single flight towards a failing URL, Vary, max_age, max_total (least recently
used first), navigations with maintenance_requires, the feed's "stale" mode, counters and metrics,
and copies kept across a reload."""
import json
import re
import threading
import time

from harness import (Haven, Upstream, check, check_eq, is_health_check, make_config, note, parse_prometheus, run,
                     test, wait_until)

FAST = {"path": "/healthz", "interval": "200ms", "timeout": "150ms", "rise": 1, "fall": 1}
ADMIN = '[admin]\nbind = "127.0.0.1:0"\n'
HTML = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")]


class Site:
    """A server whose answers the test sets per path: (status, body, headers); records hits per path."""

    def __init__(self, name: str):
        self.answers: dict[str, tuple[int, bytes, list]] = {}
        self.hits: dict[str, int] = {}
        self.default = (200, b"", [])
        self.lock = threading.Lock()
        self.upstream = Upstream(handler=self.handle, name=name)

    def set(self, path: str, status: int = 200, body: bytes | None = None, headers=()) -> None:
        with self.lock:
            self.answers[path] = (status, body if body is not None else f"page {path}".encode(), list(headers))

    def handle(self, req, conn) -> bool:
        if is_health_check(req):
            conn.respond(200, b"ok")
            return True
        with self.lock:
            self.hits[req.path] = self.hits.get(req.path, 0) + 1
            status, body, headers = self.answers.get(req.path, (200, f"page {req.path}".encode(), []))
        if status == "hang":
            conn.wait_stop(30)
            return False
        # A Vary: Accept-Encoding answer says which encoding it is for.
        if any(n.lower() == "vary" for n, _ in headers):
            body = body + b" for " + (req.headers.get("accept-encoding") or "none").encode()
        conn.respond(status, body, headers)
        return True

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


def stale_config(static: Site, api: Site | None = None, stale: dict | None = None, frontend: dict | None = None,
                 extra: str = "", timeouts: dict | None = None) -> str:
    backends = {"static": {"check": FAST, "servers": [{"name": "s1", "address": static.upstream}],
                           "retries": 0}}
    if api is not None:
        backends["api"] = {"check": FAST, "servers": [{"name": "a1", "address": api.upstream}], "retries": 0}
    text = make_config(backends, frontend=frontend, extra=extra, timeouts=timeouts)
    settings = stale if stale is not None else {}
    lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    tables = "[backends.static.stale_if_error]\n" + "\n".join(lines) + "\n"
    if api is not None:
        tables += "[backends.api.stale_if_error]\n" + "\n".join(lines) + "\n"
    return text + tables


def is_stale(resp) -> bool:
    return resp.headers.get("x-haven-stale") == "1"


def feed_mode(haven: Haven, backend: str) -> str:
    return json.loads(haven.get("/.haven/status").body)["backends"][backend]["mode"]


def take_down(haven: Haven, site: Site, server: str = "static/s1") -> None:
    mark = haven.event_mark()
    site.upstream.kill()
    haven.wait_event(rf"server {server} is DOWN", timeout=5, since=mark)


@test
def a_kept_page_is_served_marked_stale_while_its_servers_are_down() -> None:
    site = Site("s1")
    site.set("/page.html", body=b"<h1>hello</h1>", headers=[("Content-Type", "text/html"), ("ETag", '"v1"')])
    haven = Haven(stale_config(site))
    first = haven.get("/page.html?x=1")
    check_eq((first.status, first.body, is_stale(first)), (200, b"<h1>hello</h1>", False), "live answer")
    check_eq(feed_mode(haven, "static"), "primary", "feed before")

    take_down(haven, site)
    time.sleep(1.1)  # Age counts whole seconds
    with haven.client() as c:
        resp = c.request("GET", "/page.html?x=1")
        check_eq((resp.status, resp.body, is_stale(resp)), (200, b"<h1>hello</h1>", True), "copy while down")
        check(int(resp.headers.get("age") or "-1") >= 1, f"Age {resp.headers.get('age')}")
        check_eq((resp.headers.get("content-type"), resp.headers.get("etag")), ("text/html", '"v1"'),
                 "the server's own fields are kept")
        check_eq(resp.headers.get("content-length"), str(len(resp.body)), "Content-Length")
        head = c.request("HEAD", "/page.html?x=1")
        check_eq((head.status, head.body, is_stale(head), head.headers.get("content-length")),
                 (200, b"", True, str(len(resp.body))), "HEAD gets the copy's head")
        other = c.request("GET", "/page.html?x=2")   # another URL: never seen
        check_eq(other.status, 503, "a URL without a copy gets the maintenance answer")
        check(c.is_open(0.2), "keep-alive after stale answers")
    body = json.loads(haven.get("/.haven/status").body)["backends"]["static"]
    check_eq((body["mode"], body["reason"]), ("stale", "main servers failing checks; serving saved copies"),
             "the feed says stale")
    check(any(" term=stale" in line and "/page.html?x=1" in line for line in haven.wait_access_lines(5)),
          "access log term=stale")

    site.upstream.restart()
    wait_until(lambda: not is_stale(haven.get("/page.html?x=1")), 5, "live answers again")
    check_eq(feed_mode(haven, "static"), "primary", "feed after")


@test
def only_shareable_200_answers_to_get_are_kept() -> None:
    site = Site("s1")
    cases = {
        "/cookie": (200, [("Set-Cookie", "a=1")]),
        "/private": (200, [("Cache-Control", "max-age=60, private")]),
        "/nostore": (200, [("Cache-Control", "no-store")]),
        "/missing": (404, []),
        "/error": (500, []),
        "/varyall": (200, [("Vary", "*")]),
        "/big": (200, []),
        "/outside": (200, []),
        "/keep/plain": (200, [("Cache-Control", "public, max-age=5")]),
    }
    for path, (status, headers) in cases.items():
        site.set(path, status, b"x" * 3000 if path == "/big" else None, headers)
    site.set("/keep/auth")
    site.set("/keep/post")
    site.set("/keep/cookie")                                       # a visitor's own page, maybe
    site.set("/keep/cookie-public", headers=[("Cache-Control", "public, max-age=60")])  # says it is not
    haven = Haven(stale_config(site, stale={"max_entry": "2KiB", "paths": ["/keep", "/cookie", "/private", "/nostore",
                                                                           "/missing", "/error", "/varyall", "/big"]}))
    for path in cases:
        haven.get(path)
    haven.get("/keep/auth", headers=[("Authorization", "Bearer x")])
    haven.get("/keep/cookie", headers=[("Cookie", "session=abc")])
    haven.get("/keep/cookie-public", headers=[("Cookie", "session=abc")])
    with haven.client() as c:
        c.request("POST", "/keep/post", body=b"{}")
    take_down(haven, site)
    kept = {path for path in list(cases) + ["/keep/auth", "/keep/post", "/keep/cookie", "/keep/cookie-public"]
            if is_stale(haven.get(path))}
    check_eq(kept, {"/keep/plain", "/keep/cookie-public"}, "kept copies")
    # A request with Authorization is never answered from a copy either.
    check_eq(haven.get("/keep/plain", headers=[("Authorization", "Bearer x")]).status, 503,
             "Authorization gets no copy")


@test
def the_health_urls_the_maintenance_page_polls_never_get_a_copy() -> None:
    site = Site("s1")
    haven = Haven(stale_config(site))
    check_eq(haven.get("/healthz").status, 200, "live health URL")   # /healthz is in [maintenance] poll
    check_eq(haven.get("/other").status, 200, "live page")
    take_down(haven, site)
    check(is_stale(haven.get("/other")), "a page gets its copy")
    check_eq(haven.get("/healthz").status, 503, "the health URL says the truth")


@test
def a_failing_url_gets_its_copy_and_its_server_one_request_a_second() -> None:
    site = Site("s1")
    site.set("/api/data.json", body=b'{"v":1}', headers=[("Content-Type", "application/json")])
    haven = Haven(stale_config(site, extra=ADMIN))
    check_eq(haven.get("/api/data.json").body, b'{"v":1}', "live")
    site.set("/api/data.json", 503, b"overloaded")
    before = site.count("/api/data.json")
    started = time.monotonic()
    answers = []
    while time.monotonic() - started < 3.0:
        answers.append(haven.get("/api/data.json"))
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    reached = site.count("/api/data.json") - before
    note(f"{len(answers)} requests in {elapsed:.1f} s, {reached} reached the failing server")
    check(all(a.status == 200 and is_stale(a) and a.body == b'{"v":1}' for a in answers),
          f"every answer is the copy: {[(a.status, a.body[:20]) for a in answers if not is_stale(a)][:3]}")
    check(reached <= int(elapsed) + 2, f"{reached} requests reached the server in {elapsed:.1f} s")
    check_eq(feed_mode(haven, "static"), "stale", "the feed while a URL fails")
    stats = haven.admin("GET", "/stats.json").json()
    backend = next(b for b in stats["backends"] if b["name"] == "static")
    check_eq(backend["mode"], "stale", "stats.json mode")
    check(backend["stale"]["hits"] >= len(answers) - reached - 1 and backend["stale"]["failing_urls"] == 1,
          f"stats.json stale {backend['stale']}")
    metrics = parse_prometheus(haven.admin("GET", "/metrics").raw.decode())
    check(metrics[("haven_backend_stale_hits_total", (("backend", "static"),))] >= 1, "hits metric")
    check_eq(metrics[("haven_backend_mode", (("backend", "static"), ("mode", "stale")))], 1, "mode metric")
    check(metrics[("haven_backend_stale_bytes", (("backend", "static"),))] > 0, "bytes metric")

    server = next(s for s in backend["servers"] if s["name"] == "s1")
    check(server["responses"]["5xx"] >= reached - 1, f"the server's 5xx answers are counted as such: {server['responses']}")

    site.set("/api/data.json", body=b'{"v":2}')
    wait_until(lambda: haven.get("/api/data.json").body == b'{"v":2}', 3, "the server's answer once it works")
    wait_until(lambda: feed_mode(haven, "static") == "primary", 3, "feed back to primary")


@test
def a_failing_url_nobody_asks_for_again_stops_counting() -> None:
    site = Site("s1")
    haven = Haven(stale_config(site))
    haven.get("/once")
    site.set("/once", 500)
    check(is_stale(haven.get("/once")), "the copy instead of the 500")
    check_eq(feed_mode(haven, "static"), "stale", "feed while it fails")
    site.set("/once")
    # Nobody asks for /once again: the backend is not shown as stale for ever.
    wait_until(lambda: feed_mode(haven, "static") == "primary", 8, "the feed back to primary")


@test
def a_server_that_times_out_gets_the_copy_served() -> None:
    site = Site("s1")
    site.set("/slow", body=b"fast once")
    haven = Haven(stale_config(site, timeouts={"server": "500ms"}))
    check_eq(haven.get("/slow").body, b"fast once", "live")
    site.set("/slow", "hang")
    resp = haven.get("/slow", timeout=5)
    check_eq((resp.status, resp.body, is_stale(resp)), (200, b"fast once", True), "copy after the timeout")


@test
def vary_keeps_one_copy_per_variant() -> None:
    site = Site("s1")
    site.set("/v", body=b"body", headers=[("Vary", "Accept-Encoding")])
    haven = Haven(stale_config(site))
    check_eq(haven.get("/v", headers=[("Accept-Encoding", "gzip")]).body, b"body for gzip", "gzip live")
    check_eq(haven.get("/v").body, b"body for none", "identity live")
    take_down(haven, site)
    check_eq(haven.get("/v", headers=[("Accept-Encoding", "gzip")]).body, b"body for gzip", "gzip copy")
    check_eq(haven.get("/v").body, b"body for none", "identity copy")
    check_eq(haven.get("/v", headers=[("Accept-Encoding", "br")]).status, 503, "a variant never seen")


@test
def copies_older_than_max_age_are_not_served_and_the_feed_says_maintenance() -> None:
    site = Site("s1")
    haven = Haven(stale_config(site, stale={"max_age": "2s"}))
    haven.get("/old")
    take_down(haven, site)
    check(is_stale(haven.get("/old")), "young copy served")
    check_eq(feed_mode(haven, "static"), "stale", "feed while copies are young")
    wait_until(lambda: haven.get("/old").status == 503, 5, "the copy to expire")
    wait_until(lambda: feed_mode(haven, "static") == "maintenance", 3, "the feed to say maintenance")
    body = json.loads(haven.get("/.haven/status").body)["backends"]["static"]
    check(body["reason"].startswith("saved copies older than max_age"), f"reason {body['reason']}")


@test
def max_total_evicts_the_least_recently_used() -> None:
    site = Site("s1")
    for i in range(8):
        site.set(f"/p{i}", body=bytes([65 + i]) * 1000)
    haven = Haven(stale_config(site, stale={"max_total": "4KiB"}, extra=ADMIN))
    for i in range(8):
        haven.get(f"/p{i}")
    stats = haven.admin("GET", "/stats.json").json()
    stale = next(b for b in stats["backends"] if b["name"] == "static")["stale"]
    check(stale["bytes"] <= 4096 and stale["evictions"] >= 4 and stale["stores"] == 8, f"stale stats {stale}")
    take_down(haven, site)
    served = [i for i in range(8) if is_stale(haven.get(f"/p{i}"))]
    check(served and served == list(range(8 - len(served), 8)), f"the most recent copies stay: {served}")


@test
def navigations_use_copies_instead_of_the_maintenance_page() -> None:
    static, api = Site("s1"), Site("a1")
    static.set("/app", body=b"<html>app</html>", headers=[("Content-Type", "text/html")])
    api.set("/api/data", body=b'{"n":1}')
    haven = Haven(stale_config(static, api, frontend={"maintenance_requires": ["api"]}))
    check_eq(haven.get("/app", headers=HTML).body, b"<html>app</html>", "page live")
    check_eq(haven.get("/api/data").body, b'{"n":1}', "API live")
    # The API is down but its data has a copy: the page is served live, its data from the copy.
    take_down(haven, api, "api/a1")
    check_eq(haven.get("/api/data").body, b'{"n":1}', "API copy")
    page = haven.get("/app", headers=HTML)
    check_eq((page.status, page.body, is_stale(page)), (200, b"<html>app</html>", False),
             "navigation while the API is on copies")
    # The static tier dies too: a page seen before comes from its copy, a new one gets the maintenance page.
    take_down(haven, static)
    page = haven.get("/app", headers=HTML)
    check_eq((page.status, page.body, is_stale(page)), (200, b"<html>app</html>", True), "page from its copy")
    never = haven.get("/never-seen", headers=HTML)
    check_eq(never.status, 503, "a page never seen")
    check("text/html" in (never.headers.get("content-type") or ""), "the maintenance page")


@test
def without_api_copies_a_navigation_still_gets_the_maintenance_page() -> None:
    static, api = Site("s1"), Site("a1")
    haven = Haven(make_config({"static": {"check": FAST, "servers": [{"name": "s1", "address": static.upstream}]},
                               "api": {"check": FAST, "servers": [{"name": "a1", "address": api.upstream}]}},
                              frontend={"maintenance_requires": ["api"]}) +
                  "[backends.static.stale_if_error]\n")
    haven.get("/app", headers=HTML)
    take_down(haven, api, "api/a1")
    page = haven.get("/app", headers=HTML)
    check_eq(page.status, 503, "navigation with the API down and no copies of it")


@test
def a_redirecting_frontend_redirects_even_when_a_copy_exists() -> None:
    site = Site("s1")
    text = stale_config(site, frontend={"redirect_https": True}) + \
        '[frontends.plain]\nbind = "127.0.0.1:0"\ndefault_backend = "static"\n'
    haven = Haven(text)
    plain_port = haven.ports["plain"]
    with haven.client(port=plain_port) as c:
        check_eq(c.request("GET", "/secret").status, 200, "via the plain frontend")
    site.set("/secret", 500)
    with haven.client(port=plain_port) as c:
        check(is_stale(c.request("GET", "/secret")), "the copy via the plain frontend")
    with haven.client(port=haven.ports["web"]) as c:
        check_eq(c.request("GET", "/secret").status, 308, "the redirecting frontend redirects")


@test
def copies_survive_a_reload() -> None:
    site = Site("s1")
    haven = Haven(stale_config(site, extra=ADMIN))
    haven.get("/kept")
    text = stale_config(site, stale={"max_age": "30m"}, extra=ADMIN)
    with open(haven.config_path, "w") as f:
        f.write(text)
    check_eq(haven.admin("POST", "/api/v1/reload").status, 200, "reload")
    take_down(haven, site)
    check(is_stale(haven.get("/kept")), "the copy made before the reload")


if __name__ == "__main__":
    run()
