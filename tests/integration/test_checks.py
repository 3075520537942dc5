"""Active health checks: the check request, start-up checks, rise/fall counting, wrong status,
timeouts, expect_status lists, check cadence, and the event log lines (text and JSON)."""
import json
import re
import threading
import time

from harness import (FAST_CHECK, Haven, TestFailure, Upstream, api_config, check, check_eq, down_line,
                     echo_body, fast_check, is_health_check, make_config, note, run, server_entry, test,
                     up_line, wait_until)


class Health:
    """A server whose check answers are steered by the test: status, delay, or an alternation."""

    def __init__(self, name: str, status: int = 200):
        self.status = status
        self.delay = 0.0
        self.alternate = False      # odd-numbered checks get 503
        self.count = 0
        self.lock = threading.Lock()
        self.upstream = Upstream(handler=self.handle, name=name)

    def handle(self, req, conn) -> bool:
        if not is_health_check(req):
            conn.respond(200, echo_body(conn.upstream, req, conn), [("Content-Type", "application/json")])
            return True
        with self.lock:
            self.count += 1
            status = 503 if self.alternate and self.count % 2 else self.status
            delay = self.delay
        if delay and conn.wait_stop(delay):
            return False
        conn.respond(status, b"" if status in (204, 304) else b"health\n", content_length=status not in (204, 304))
        return False


# ---------------------------------------------------------------------------------------------
# The check request
# ---------------------------------------------------------------------------------------------

@test
def check_request_is_get_path_host_user_agent_connection_close() -> None:
    a1 = Upstream(name="a1")
    s1 = Upstream(name="s1")
    haven = Haven(make_config({
        "api": {"check": fast_check(path="/api/healthz?deep=1"), "servers": [server_entry(a1)]},
        "static": {"check": fast_check(host="status.example", interval="1s"), "servers": [server_entry(s1)]},
    }))
    req = a1.wait_requests(1, timeout=3)[0]
    check_eq((req.method, req.target, req.version), ("GET", "/api/healthz?deep=1", "HTTP/1.1"), "check request line")
    check_eq(req.headers.get_all("host"), [a1.address], "Host of a check without check.host")
    check_eq(req.headers.get("user-agent"), "haven-check", "User-Agent")
    check_eq(req.headers.tokens("connection"), ["close"], "Connection")
    check(not req.headers.has("content-length") and not req.headers.has("transfer-encoding"), f"body headers {req.headers}")
    req = s1.wait_requests(1, timeout=3)[0]
    check_eq((req.method, req.target), ("GET", "/healthz"), "static check request line")
    check_eq(req.headers.get_all("host"), ["status.example"], "Host with check.host")
    # One connection per check.
    wait_until(lambda: len(a1.health_checks()) >= 3, 3, "three checks of a1")
    checks = a1.health_checks()[:3]
    check_eq(len({r.conn_id for r in checks}), 3, "connections used by 3 checks")


@test
def head_check_method() -> None:
    a1 = Upstream(name="a1")
    haven = Haven(api_config([server_entry(a1)], check=fast_check(method="HEAD")))
    req = a1.wait_requests(1, timeout=3)[0]
    check_eq((req.method, req.target), ("HEAD", "/healthz"), "check request line")
    wait_until(lambda: len(a1.health_checks()) >= 4, 3, "four checks")
    check(" is DOWN " not in haven.events(), f"a HEAD check answered 200 took the server down:\n{haven.events()}")


@test
def servers_are_checked_at_once_at_start_up() -> None:
    """interval 10s: the first check is not an interval away. A refusing main with fall 1 is
    DOWN within a second of start-up; a healthy one is checked within a second."""
    dead = Upstream("refuse", name="a1")
    alive = Upstream(name="a2")
    start = time.monotonic()
    haven = Haven(api_config([server_entry(dead), server_entry(alive)], check=fast_check(interval="10s", fall=1)))
    haven.wait_event(down_line("api/a1", r"check: connection refused, \d+ms") + r"; 1 main and 0 backup up",
                     timeout=1.5)
    alive.wait_requests(1, timeout=max(0.1, 1.5 - (time.monotonic() - start)))
    check(is_health_check(alive.requests[0]), "first request at a2 is a check")
    check_eq(haven.get("/api/x").json()["server"], "a2", "server after a1 is DOWN")


@test
def servers_start_up_before_any_check() -> None:
    """Servers start UP: the first request is answered even if the checks never succeed yet."""
    h = Health("a1")
    h.delay = 5.0                       # checks take longer than the 2s timeout
    haven = Haven(api_config([server_entry(h.upstream)], check=fast_check(interval="10s", timeout="2s")))
    resp = haven.get("/api/first")
    check_eq((resp.status, resp.json()["server"]), (200, "a1"), "first request")


@test
def first_checks_are_spread_in_time() -> None:
    ups = [Upstream(name=f"a{i}") for i in range(1, 5)]
    haven = Haven(api_config([server_entry(u) for u in ups], check=fast_check(interval="2s")))
    for u in ups:
        wait_until(lambda u=u: u.health_checks(), 3, f"first check of {u.name}")
    firsts = sorted(u.health_checks()[0].received_at for u in ups)
    spread_ms = (firsts[-1] - firsts[0]) * 1000
    note(f"first checks of 4 servers spread over {spread_ms:.0f}ms")
    check(spread_ms >= 30, f"first checks of 4 servers within {spread_ms:.1f}ms: fired in lockstep")
    check(" is DOWN " not in haven.events(), "DOWN line")


# ---------------------------------------------------------------------------------------------
# rise / fall, status, timeout, expect_status
# ---------------------------------------------------------------------------------------------

@test
def wrong_status_takes_server_down_and_good_status_brings_it_back() -> None:
    h = Health("main_api")
    backup = Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(h.upstream), server_entry(backup, backup=True)], check=fast_check()))
    wait_until(lambda: h.count >= 1, 3, "a first check")
    mark = haven.event_mark()
    h.status = 503
    with h.lock:
        counted = h.count
    m = haven.wait_event(down_line("api/main_api", r"check: status 503, \d+ms")
                         + r"; 0 main and 1 backup up; api running on backup", timeout=3, since=mark)
    failed = h.count - counted
    check(failed >= 3, f"DOWN after {failed} failed check(s), fall is 3: {m.group(0)!r}")
    check_eq(haven.get("/api/x").json()["server"], "fallback_api", "server while the main is DOWN")
    mark = haven.event_mark()
    h.status = 200
    with h.lock:
        counted = h.count
    m = haven.wait_event(up_line("api/main_api", r"check: status 200, \d+ms") + r"; 1 main and 1 backup up\n",
                         timeout=3, since=mark)
    check(h.count - counted >= 2, f"UP after {h.count - counted} good check(s), rise is 2: {m.group(0)!r}")
    check_eq(haven.get("/api/y").json()["server"], "main_api", "server after the UP line")


@test
def slow_check_times_out_and_takes_server_down() -> None:
    h = Health("main_api")
    backup = Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(h.upstream), server_entry(backup, backup=True)], check=fast_check(fall=2)))
    wait_until(lambda: h.count >= 1, 3, "a first check")
    mark = haven.event_mark()
    h.delay = 0.6                       # slower than the 200ms timeout, answers 200 in the end
    start = time.monotonic()
    m = haven.wait_event(down_line("api/main_api", r"check: timeout, (\d+)ms"), timeout=3, since=mark)
    took = int(m.group(1))
    note(f"{m.group(0)!r} after {time.monotonic() - start:.2f}s")
    check(190 <= took <= 400, f"a timed out check took {took}ms, timeout is 200ms")


@test
def a_head_within_timeout_is_enough() -> None:
    """A check answer whose head comes at once but whose body never ends is a success."""
    def handler(req, conn) -> bool:
        if is_health_check(req):
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
            conn.wait_stop(3)
            return False
        conn.respond(200, echo_body(conn.upstream, req, conn))
        return True

    a1 = Upstream(handler=handler, name="a1")
    haven = Haven(api_config([server_entry(a1)], check=fast_check(fall=1)))
    wait_until(lambda: len(a1.health_checks()) >= 4, 3, "4 checks")
    check("server api/a1 is DOWN" not in haven.events(), f"DOWN:\n{haven.events()[-1000:]}")


@test
def a_malformed_check_answer_is_a_failed_check() -> None:
    """Checks read answers with the same strict parser as traffic: a 200 whose head breaks the
    rules (here a header line without a colon) fails the check, as traffic would get a 502."""
    def handler(req, conn) -> bool:
        if is_health_check(req):
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nno colon on this line\r\n\r\n")
            return False
        conn.respond(200, echo_body(conn.upstream, req, conn))
        return True

    a1 = Upstream(handler=handler, name="a1")
    haven = Haven(api_config([server_entry(a1)], check=fast_check(fall=1)))
    haven.wait_event(down_line("api/a1", r"check: invalid response[^)]*"), timeout=5)
    check_eq(haven.get("/api/x").status, 503, "status while the only server is DOWN")


@test
def backup_down_while_main_up_line() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)], check=fast_check(fall=2)))
    wait_until(lambda: backup.health_checks(), 3, "a check of the backup")
    backup.kill()
    m = haven.wait_event(down_line("api/fallback_api", r"check: connection refused, \d+ms") + r"; 1 main and 0 backup up(.*)\n",
                         timeout=3)
    check_eq(m.group(1), "", f"end of {m.group(0)!r}")
    check("no server available" not in haven.events(), "backend unavailable with its main UP")


@test
def single_failures_below_fall_do_not_take_server_down() -> None:
    """Every other check fails: never `fall` (2) consecutive failures, so the server stays UP."""
    h = Health("a1")
    h.alternate = True
    haven = Haven(api_config([server_entry(h.upstream)], check=fast_check(fall=2, interval="100ms")))
    wait_until(lambda: h.count >= 10, 5, "10 checks")
    check(" is DOWN " not in haven.events(), f"DOWN with alternating checks:\n{haven.events()[-1500:]}")


@test
def expect_status_list_accepts_204_and_rejects_206() -> None:
    """expect_status = "200,204" is a list: 204 passes; 206 (inside the default 200-399) fails."""
    ok204 = Health("a1", status=204)
    bad206 = Health("s1", status=206)
    haven = Haven(make_config({
        "api": {"check": fast_check(expect_status="200,204"), "servers": [server_entry(ok204.upstream)]},
        "static": {"check": fast_check(expect_status="200,204"), "servers": [server_entry(bad206.upstream)]},
    }))
    haven.wait_event(down_line("static/s1", r"check: status 206, \d+ms") + r"; 0 main and 0 backup up", timeout=3)
    wait_until(lambda: ok204.count >= 5, 3, "5 checks answered 204")
    check("server api/a1 is DOWN" not in haven.events(),
          f"a1 (204) is DOWN:\n{haven.events()}")
    check_eq(haven.get("/api/x").json()["server"], "a1", "server of the 204-checked backend")


@test
def expect_status_range_default_accepts_3xx_rejects_4xx() -> None:
    ok302 = Health("a1", status=302)
    bad404 = Health("s1", status=404)
    haven = Haven(make_config({
        "api": {"check": fast_check(), "servers": [server_entry(ok302.upstream)]},
        "static": {"check": fast_check(), "servers": [server_entry(bad404.upstream)]},
    }))
    haven.wait_event(down_line("static/s1", r"check: status 404, \d+ms"), timeout=3)
    wait_until(lambda: ok302.count >= 4, 3, "4 checks answered 302")
    check("server api/a1 is DOWN" not in haven.events(), f"a1 (302) is DOWN:\n{haven.events()}")


@test
def down_interval_slows_checks_of_a_down_server() -> None:
    h = Health("a1", status=503)
    Haven(api_config([server_entry(h.upstream)], check=fast_check(interval="200ms", down_interval="1500ms", fall=1)))
    wait_until(lambda: len(h.upstream.health_checks()) >= 3, 5, "3 checks")
    times = [r.received_at for r in h.upstream.health_checks()[:3]]
    gaps = [round(b - a, 2) for a, b in zip(times, times[1:])]
    note(f"gaps between checks of a DOWN server: {gaps}")
    check(all(1.2 <= g <= 2.0 for g in gaps), f"gaps {gaps}, down_interval is 1.5s (+-10%)")


# ---------------------------------------------------------------------------------------------
# Event lines
# ---------------------------------------------------------------------------------------------

TIME_PREFIX = r"^\S.*?"


def run_down_up_sequence(haven: Haven, main: Upstream, backup: Upstream) -> None:
    """main DOWN, backup DOWN, backup UP, main UP; waits for each server event."""
    wait_until(lambda: len(main.health_checks()) >= 1 and len(backup.health_checks()) >= 1, 3, "first checks")
    main.kill()
    haven.wait_event(r"server api/main_api is DOWN", timeout=3)
    backup.kill()
    haven.wait_event(r"server api/fallback_api is DOWN", timeout=3)
    backup.restart()
    haven.wait_event(r"server api/fallback_api is UP", timeout=3)
    main.restart()
    haven.wait_event(r"server api/main_api is UP", timeout=3)


@test
def event_lines_text() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)], check=fast_check()))
    run_down_up_sequence(haven, main, backup)
    expected = [
        r"server api/main_api is DOWN \(check: connection refused, \d+ms\); 0 main and 1 backup up; "
        r"api running on backup",
        r"server api/fallback_api is DOWN \(check: connection refused, \d+ms\); 0 main and 0 backup up",
        r"backend api has no server available: serving maintenance",
        r"server api/fallback_api is UP \(check: status 200, \d+ms\); 0 main and 1 backup up; api running on backup",
        r"backend api is available again",
        r"server api/main_api is UP \(check: status 200, \d+ms\); 1 main and 1 backup up",
    ]
    lines = [line for line in haven.event_lines() if re.search(r"server api/|backend api ", line)]
    check_eq(len(lines), len(expected), f"event lines about api: {lines}")
    for line, rx in zip(lines, expected):
        check(re.fullmatch(TIME_PREFIX + r"\b" + rx, line) or re.fullmatch(rx, line),
              f"event line {line!r} does not match {rx!r}")


@test
def event_lines_json() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)], check=fast_check(), log={"format": "json"}))
    run_down_up_sequence(haven, main, backup)
    records = []
    for line in haven.event_lines():
        try:
            records.append(json.loads(line))
        except ValueError:
            raise TestFailure(f"event line is not JSON: {line!r}") from None
    events = [r for r in records if r.get("event") in ("server_down", "server_up", "backend_unavailable",
                                                        "backend_available")]
    check_eq([(r["event"], r.get("server")) for r in events], [
        ("server_down", "api/main_api"), ("server_down", "api/fallback_api"), ("backend_unavailable", None),
        ("server_up", "api/fallback_api"), ("backend_available", None), ("server_up", "api/main_api")],
        "event sequence")
    keys = {"event", "message", "server", "backend", "state", "reason", "main_up", "backup_up"}
    for r in events:
        if r["event"].startswith("server_"):
            check(keys <= set(r), f"keys missing from {r}: {sorted(keys - set(r))}")
        else:
            check({"event", "message", "backend"} <= set(r), f"keys missing from {r}")
        check_eq(r["backend"], "api", f"backend of {r}")
    down_main = events[0]
    check_eq(down_main["state"], "DOWN", "state")
    check(re.fullmatch(r"check: connection refused, \d+ms", down_main["reason"]), f"reason {down_main['reason']!r}")
    check_eq((int(down_main["main_up"]), int(down_main["backup_up"])), (0, 1), "main_up, backup_up")
    check(re.fullmatch(r"server api/main_api is DOWN \(check: connection refused, \d+ms\); 0 main and 1 backup up; "
                       r"api running on backup", down_main["message"]), f"message {down_main['message']!r}")
    up_main = events[-1]
    check_eq((up_main["state"], int(up_main["main_up"]), int(up_main["backup_up"])), ("UP", 1, 1), "last UP")
    check_eq(events[2]["message"], "backend api has no server available: serving maintenance", "unavailable message")
    check_eq(events[4]["message"], "backend api is available again", "available message")
    if not isinstance(down_main["main_up"], int):
        note(f"main_up/backup_up are JSON {type(down_main['main_up']).__name__}s: {down_main['main_up']!r}")


if __name__ == "__main__":
    run()
