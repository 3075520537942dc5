"""Maintenance responses: 503 JSON or HTML when a backend has no usable server, Retry-After and
Cache-Control, HEAD, keep-alive, recovery, maintenance_requires for browser navigations, the poll
list, and the replaceable page ([maintenance] page, checked by --check)."""
import json
import os
import re

import harness
from harness import (Haven, Response, Upstream, check, check_eq, make_config, new_temp_dir, note, run,
                     run_haven, test)

FAST = {"path": "/healthz", "interval": "300ms", "timeout": "200ms", "rise": 2, "fall": 1}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
HTML = [("Accept", BROWSER_ACCEPT)]
JSON_ACCEPT = [("Accept", "application/json")]
UNAVAILABLE = r"backend api has no server available: serving maintenance"
CONFIG_BLOCK = re.compile(r"/\*haven:config\*/(.*?)/\*haven:end\*/", re.S)


def server(upstream: Upstream, backup: bool = False) -> dict:
    entry = {"name": upstream.name, "address": upstream}
    if backup:
        entry["backup"] = True
    return entry


def config(main: Upstream, backup: Upstream, static: Upstream | None = None, frontend: dict | None = None,
           maintenance: dict | None = None, static_check: bool = False) -> str:
    static = static or Upstream(name="main_static")
    static_spec: dict = {"servers": [server(static)]}
    if static_check:
        static_spec["check"] = FAST
    extra = ""
    if maintenance:
        extra = "[maintenance]\n" + "\n".join(f"{k} = {harness.toml_value(v)}" for k, v in maintenance.items())
    return make_config({"api": {"check": FAST, "servers": [server(main), server(backup, backup=True)]},
                        "static": static_spec}, frontend=frontend, extra=extra)


def json_body(backend: str = "api", retry_after: int = 5) -> bytes:
    return (json.dumps({"status": "maintenance", "backend": backend, "retry_after": retry_after},
                       separators=(",", ":")) + "\n").encode()


def check_maintenance_head(resp: Response, content_type: str, retry_after: int = 5, what: str = "") -> None:
    check_eq(resp.status, 503, f"{what} status (body {resp.body[:200]!r})")
    check_eq(resp.headers.get_all("content-type"), [content_type], f"{what} Content-Type")
    check_eq(resp.headers.get_all("retry-after"), [str(retry_after)], f"{what} Retry-After")
    check_eq(resp.headers.get_all("cache-control"), ["no-store"], f"{what} Cache-Control")
    check("close" not in resp.headers.tokens("connection"), f"{what} Connection: close in {resp.headers}")


def check_json_maintenance(resp: Response, backend: str = "api", retry_after: int = 5, what: str = "") -> None:
    check_maintenance_head(resp, "application/json", retry_after, what)
    check_eq(resp.body, json_body(backend, retry_after), f"{what} body")
    check_eq(resp.headers.get("content-length"), str(len(resp.body)), f"{what} Content-Length")


def check_html_maintenance(resp: Response, retry_after: int = 5, what: str = "") -> dict:
    """Returns the filled-in page config (the JSON between the markers)."""
    check_maintenance_head(resp, "text/html; charset=utf-8", retry_after, what)
    check_eq(resp.headers.get("content-length"), str(len(resp.body)), f"{what} Content-Length")
    m = CONFIG_BLOCK.search(resp.body.decode("utf-8", "replace"))
    check(m is not None, f"{what} no /*haven:config*/.../*haven:end*/ block in the page")
    return json.loads(m.group(1))


def both_down(maintenance: dict | None = None, frontend: dict | None = None) -> tuple[Haven, Upstream, Upstream,
                                                                                      Upstream]:
    """api's main and backup refuse connections from the start (fall 1): waits for maintenance."""
    main, backup = Upstream("refuse", name="main_api"), Upstream("refuse", name="fallback_api")
    static = Upstream(name="main_static")
    haven = Haven(config(main, backup, static, frontend=frontend, maintenance=maintenance))
    haven.wait_event(UNAVAILABLE, timeout=3)
    return haven, main, backup, static


# ---------------------------------------------------------------------------------------------
# 503 responses of a backend with no usable server
# ---------------------------------------------------------------------------------------------

@test
def both_tiers_down_json_html_head_on_one_keep_alive_connection() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    static = Upstream(name="main_static")
    haven = Haven(config(main, backup, static))
    check_eq(haven.get("/api/data").json()["server"], "main_api", "server before the kill")
    before = len(main.traffic()) + len(backup.traffic())
    main.kill()
    backup.kill()
    haven.wait_event(UNAVAILABLE, timeout=3)
    with haven.client() as c:
        resp = c.request("GET", "/api/data", headers=JSON_ACCEPT)
        check_json_maintenance(resp, what="GET Accept: application/json:")
        head = c.request("HEAD", "/api/data", headers=JSON_ACCEPT)
        check_maintenance_head(head, "application/json", what="HEAD json:")
        check_eq(head.headers.get("content-length"), str(len(json_body())), "HEAD json Content-Length")
        page = c.request("GET", "/api/page", headers=HTML)
        check_html_maintenance(page, what="GET Accept: text/html:")
        head = c.request("HEAD", "/api/page", headers=HTML)
        check_maintenance_head(head, "text/html; charset=utf-8", what="HEAD html:")
        check_eq(head.headers.get("content-length"), str(len(page.body)), "HEAD html Content-Length")
        post = c.request("POST", "/api/orders", headers=JSON_ACCEPT, body=b'{"n": 1}' * 100)
        check_json_maintenance(post, what="POST:")
        resp = c.request("GET", "/index.html", headers=HTML)   # the connection is still usable
        check_eq((resp.status, resp.json()["server"]), (200, "main_static"), "static request on the same connection")
        check(c.is_open(0.2), "connection closed after the maintenance responses")
    check_eq(len(main.traffic()) + len(backup.traffic()) - before, 0, "requests at api servers after the kill")


@test
def bundled_page_is_self_contained_with_default_poll_config() -> None:
    haven, *_ = both_down()
    resp = haven.get("/api/", headers=HTML)
    cfg = check_html_maintenance(resp)
    check_eq(cfg.get("poll"), ["/api/healthz", "/healthz"], "poll list in the page")
    check_eq(cfg.get("interval_ms"), 5000, "interval_ms in the page")
    check(isinstance(cfg.get("timeout_ms"), int) and 0 < cfg["timeout_ms"] <= 5000, f"timeout_ms {cfg}")
    text = resp.body.decode("utf-8")
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//[^"'\s>]*|@import\s+url\(\s*["']?(?:https?:)?//""",
                          text, re.I)
    check_eq(external, [], "external assets in the bundled page")
    check(re.search(r"maintenance", text, re.I), "the page does not say 'maintenance'")
    note(f"bundled page {len(resp.body)} bytes, config {cfg}")


@test
def accept_decides_between_html_and_json() -> None:
    haven, *_ = both_down()
    cases = [
        ([("Accept", "text/html")], "html"),
        ([("Accept", BROWSER_ACCEPT)], "html"),
        ([("Accept", "application/xhtml+xml, text/html;q=0.9")], "html"),
        ([("Accept", "text/html;q=0, application/json")], "json"),
        ([("Accept", "*/*")], "json"),
        ([("Accept", "application/json")], "json"),
        ([], "json"),
    ]
    with haven.client() as c:
        for headers, kind in cases:
            resp = c.request("GET", "/api/thing", headers=headers)
            if kind == "html":
                check_html_maintenance(resp, what=f"{headers}:")
            else:
                check_json_maintenance(resp, what=f"{headers}:")


@test
def retry_after_and_poll_settings_are_used() -> None:
    haven, *_ = both_down(maintenance={"retry_after": "30s", "poll": ["/status", "/api/status"],
                                       "poll_interval": "2s"})
    check_json_maintenance(haven.get("/api/x"), retry_after=30, what="json:")
    cfg = check_html_maintenance(haven.get("/api/x", headers=HTML), retry_after=30, what="html:")
    check_eq((cfg.get("poll"), cfg.get("interval_ms")), (["/status", "/api/status"], 2000), "page config")


@test
def json_body_names_the_backend() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    static = Upstream("refuse", name="main_static")
    haven = Haven(config(main, backup, static, static_check=True))
    haven.wait_event(r"backend static has no server available: serving maintenance", timeout=3)
    check_json_maintenance(haven.get("/app.js"), backend="static")
    check_eq(haven.get("/api/x").json()["server"], "main_api", "api is unaffected")


@test
def maintenance_ends_when_a_server_is_back() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(config(main, backup))
    main.kill()
    backup.kill()
    haven.wait_event(UNAVAILABLE, timeout=3)
    with haven.client() as c:
        check_json_maintenance(c.request("GET", "/api/x"))
        mark = haven.event_mark()
        backup.restart()
        haven.wait_event(r"backend api is available again", timeout=3, since=mark)
        resp = c.request("GET", "/api/x")
        check_eq((resp.status, resp.json()["server"]), (200, "fallback_api"), "answer once the backup is UP")
        main.restart()
        haven.wait_event(r"server api/main_api is UP", timeout=3, since=mark)
        resp = c.request("GET", "/api/x")
        check_eq((resp.status, resp.json()["server"]), (200, "main_api"), "answer once the main is UP")


# ---------------------------------------------------------------------------------------------
# maintenance_requires
# ---------------------------------------------------------------------------------------------

@test
def maintenance_requires_turns_browser_navigations_into_the_page() -> None:
    haven, main, backup, static = both_down(frontend={"maintenance_requires": ["api"]})
    with haven.client() as c:
        check_html_maintenance(c.request("GET", "/", headers=HTML), what="GET / (navigation):")
        check_html_maintenance(c.request("GET", "/reports/today?x=1", headers=HTML), what="GET /reports (navigation):")
        head = c.request("HEAD", "/", headers=HTML)
        check_maintenance_head(head, "text/html; charset=utf-8", what="HEAD / (navigation):")
        resp = c.request("GET", "/", headers=JSON_ACCEPT)
        check_eq((resp.status, resp.json()["server"]), (200, "main_static"), "GET / Accept: application/json")
        resp = c.request("GET", "/app.js", headers=[("Accept", "*/*")])
        check_eq((resp.status, resp.json()["server"]), (200, "main_static"), "GET /app.js Accept: */*")
        resp = c.request("GET", "/healthz", headers=HTML)
        check_eq((resp.status, resp.json()["server"] if resp.status == 200 else resp.body[:100]),
                 (200, "main_static"), "GET /healthz (a poll path) Accept: text/html")
        resp = c.request("GET", "/healthz?t=123", headers=HTML)
        check_eq(resp.status, 200, "GET /healthz?t=123 (a poll path with a query) Accept: text/html")
        resp = c.request("POST", "/form", headers=HTML, body=b"a=1")
        check_eq((resp.status, resp.json()["server"] if resp.status == 200 else None), (200, "main_static"),
                 "POST / Accept: text/html (not a navigation)")
        check_json_maintenance(c.request("GET", "/api/healthz", headers=[("Accept", "*/*")]), what="/api/healthz:")
    check_eq(sorted({r.path for r in static.traffic()}), ["/", "/app.js", "/form", "/healthz"],
             "paths at the static server")
    # Recovery: the navigation goes through again.
    mark = haven.event_mark()
    backup.restart()
    haven.wait_event(r"backend api is available again", timeout=3, since=mark)
    resp = haven.get("/", headers=HTML)
    check_eq((resp.status, resp.json()["server"]), (200, "main_static"), "GET / once api is back")


@test
def maintenance_requires_exempts_only_the_configured_poll_paths() -> None:
    haven, *_ = both_down(frontend={"maintenance_requires": ["api"]}, maintenance={"poll": ["/status"]})
    resp = haven.get("/status", headers=HTML)
    check_eq((resp.status, resp.json()["server"] if resp.status == 200 else resp.body[:100]), (200, "main_static"),
             "GET /status (the configured poll path)")
    check_html_maintenance(haven.get("/healthz", headers=HTML), what="GET /healthz (no longer a poll path):")


@test
def without_maintenance_requires_static_pages_are_served() -> None:
    haven, *_ = both_down()
    resp = haven.get("/", headers=HTML)
    check_eq((resp.status, resp.json()["server"]), (200, "main_static"), "GET / with api down, no maintenance_requires")


# ---------------------------------------------------------------------------------------------
# [maintenance] page
# ---------------------------------------------------------------------------------------------

def write_file(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


@test
def custom_page_is_served_with_its_config_block_filled() -> None:
    directory = new_temp_dir("page-")
    before = "<!doctype html><title>Custom</title><p>CUSTOM MAINTENANCE \u00e9t\u00e9</p><script>const C = ".encode()
    after = b";</script>\n"
    path = write_file(directory, "custom.html", before + b'/*haven:config*/{"poll":[]}/*haven:end*/' + after)
    haven, *_ = both_down(maintenance={"page": path, "poll": ["/api/healthz"], "poll_interval": "3s"})
    resp = haven.get("/api/x", headers=HTML)
    cfg = check_html_maintenance(resp)
    check(resp.body.startswith(before) and resp.body.endswith(b"/*haven:end*/" + after),
          f"custom page not served as written: {resp.body[:300]!r}")
    check_eq((cfg.get("poll"), cfg.get("interval_ms")), (["/api/healthz"], 3000), "filled-in config")
    check_json_maintenance(haven.get("/api/x"), what="json with a custom page:")


@test
def custom_page_without_markers_is_served_verbatim() -> None:
    directory = new_temp_dir("page-")
    page = b"<html><body>down for a bit</body></html>\n"
    path = write_file(directory, "plain.html", page)
    haven, *_ = both_down(maintenance={"page": path})
    resp = haven.get("/api/x", headers=HTML)
    check_maintenance_head(resp, "text/html; charset=utf-8")
    check_eq(resp.body, page, "page")


def page_config_text(page: str) -> tuple[str, int]:
    """A config whose [maintenance] page line number is returned."""
    text = make_config({"api": [{"name": "a1", "address": "127.0.0.1:9"}],
                        "static": [{"name": "s1", "address": "127.0.0.1:10"}]})
    text += f'\n[maintenance]\nretry_after = "5s"\npage = "{page}"\n'
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("page = "))
    return text, line


@test
def check_rejects_a_missing_page_file_with_its_line() -> None:
    directory = new_temp_dir("cfg-")
    text, line = page_config_text("missing-page.html")
    path = write_file(directory, "haven.toml", text.encode())
    elsewhere = new_temp_dir("cwd-")
    proc = run_haven(["--check", "-c", path], cwd=elsewhere)
    out = (proc.stdout or "") + (proc.stderr or "")
    check_eq(proc.returncode, 1, f"exit code of --check (output {out!r})")
    m = re.search(rf"{re.escape(path)}:(\d+):(\d+): (.*)", out)
    check(m is not None, f"no '{path}:LINE:COL: message' in {out!r}")
    check_eq(int(m.group(1)), line, f"line in {m.group(0)!r}")
    check("missing-page.html" in m.group(3), f"message does not name the file: {m.group(0)!r}")
    # Starting with it fails the same way (no listening socket).
    try:
        proc = run_haven(["-c", path], timeout=5, cwd=elsewhere)
    except Exception as e:  # noqa: BLE001 - subprocess.TimeoutExpired: it started
        raise harness.TestFailure(f"haven started with a missing maintenance page: {e!r}") from None
    check(proc.returncode != 0, f"haven -c exited {proc.returncode} with a missing page")
    check(f"{path}:{line}:" in (proc.stdout or "") + (proc.stderr or ""), f"start-up error: {proc.stderr!r}")


@test
def check_resolves_the_page_next_to_the_config_file() -> None:
    directory = new_temp_dir("cfg-")
    write_file(directory, "page.html", b"<p>down</p>")
    text, _ = page_config_text("page.html")
    path = write_file(directory, "haven.toml", text.encode())
    proc = run_haven(["--check", "-c", path], cwd=new_temp_dir("cwd-"))
    check_eq(proc.returncode, 0, f"exit code of --check with page.html next to the config ({proc.stdout!r} {proc.stderr!r})")


if __name__ == "__main__":
    run()
