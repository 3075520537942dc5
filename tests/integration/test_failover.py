"""Failover between servers and tiers: a killed main under load, detection time, recovery, retry
decisions (idempotent or not, response bytes sent or not), hung servers, passive checks and
all_backups."""
import collections
import json
import re
import threading
import time

from harness import (FAST_CHECK, Haven, Upstream, api_config, check, check_eq, down_line, echo_body,
                     fast_check, is_health_check, make_config, note, run, server_entry, test, up_line,
                     wait_until)


def served_by(resp) -> str:
    return resp.json()["server"]


def answer(req, conn, status: int = 200) -> None:
    conn.respond(status, echo_body(conn.upstream, req, conn), [("Content-Type", "application/json")])


# ---------------------------------------------------------------------------------------------
# A main server dies under load, and comes back
# ---------------------------------------------------------------------------------------------

@test
def main_killed_under_load_loses_no_request() -> None:
    """4 clients loop keep-alive GETs; the main is killed (listener closed, connections reset),
    later restarted. Every request gets a 2xx: first from the main, then the backup, then the main."""
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)], check=fast_check()))
    stop = threading.Event()
    lock = threading.Lock()
    statuses: collections.Counter = collections.Counter()
    by_server: collections.Counter = collections.Counter()
    errors: list[str] = []
    phase = ["before"]
    phases: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    sent = [0]

    def worker(index: int) -> None:
        client = None
        n = 0
        while not stop.is_set():
            try:
                if client is None:
                    client = haven.client(timeout=8)
                with lock:
                    sent[0] += 1
                    current = phase[0]
                resp = client.request("GET", f"/api/load/{index}/{n}")
            except Exception as e:  # noqa: BLE001 - every lost request is a failure
                with lock:
                    errors.append(f"client {index} request {n} ({current}): {e!r}")
                if client is not None:
                    client.close()
                client = None
                n += 1
                continue
            n += 1
            with lock:
                statuses[resp.status] += 1
                if resp.status == 200:
                    name = served_by(resp)
                    by_server[name] += 1
                    phases[current][name] += 1
                elif len(errors) < 20:
                    errors.append(f"client {index} request {n} ({current}): status {resp.status} "
                                  f"body {resp.body[:200]!r}")
            if "close" in resp.headers.tokens("connection"):
                client.close()
                client = None
        if client is not None:
            client.close()

    def held(started: float, condition) -> bool:
        """Each phase lasts at least 0.8 s of load (about 3 s in all) and until `condition`."""
        return time.monotonic() - started >= 0.8 and condition()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        started = time.monotonic()
        wait_until(lambda: held(started, lambda: len(main.traffic()) >= 100), 5,
                   "100 requests at the main before the kill")
        with lock:
            phase[0] = "main killed"
        mark = haven.event_mark()
        main.kill()
        killed_at = time.monotonic()
        haven.wait_event(down_line("api/main_api"), timeout=4, since=mark)
        note(f"DOWN event {time.monotonic() - killed_at:.2f}s after the kill")
        wait_until(lambda: held(killed_at, lambda: phases["main killed"]["fallback_api"] >= 100), 5,
                   "100 answers from the backup")
        with lock:
            phase[0] = "main restarted"
        mark = haven.event_mark()
        restarted_at = time.monotonic()
        main.restart()
        haven.wait_event(up_line("api/main_api"), timeout=4, since=mark)
        with lock:
            phase[0] = "main up again"
        started = time.monotonic()
        wait_until(lambda: held(started, lambda: phases["main up again"]["main_api"] >= 100), 5,
                   "100 answers from the main again")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    check(not any(t.is_alive() for t in threads), "a client thread is still running")
    note(f"{sent[0]} requests, statuses {dict(statuses)}, servers {dict(by_server)}, "
         f"phases { {k: dict(v) for k, v in phases.items()} }")
    check(not errors, f"{len(errors)} lost or failed request(s), first ones: {errors[:10]}")
    check_eq(sum(statuses.values()), sent[0], "responses (one per request sent)")
    check_eq(set(statuses), {200}, "statuses")
    check(phases["main up again"]["fallback_api"] <= 8,
          f"the backup kept serving once the main was UP: {dict(phases['main up again'])}")
    check_eq(main.errors + backup.errors, [], "upstream errors")
    # Back UP after rise (2) good checks: no request reached the restarted main before the second.
    checks = [r.received_at for r in main.health_checks() if r.received_at >= restarted_at]
    check(len(checks) >= 2, f"UP after {len(checks)} check(s) of the restarted main, rise is 2")
    early = [r.target for r in main.traffic() if restarted_at <= r.received_at < checks[1]]
    check_eq(early, [], "requests at the restarted main before its second good check")


@test
def down_detected_within_interval_times_fall_plus_timeout() -> None:
    """interval 300ms, timeout 200ms, fall 3, no traffic: the DOWN line comes within
    0.3*3 + 0.2 + 1 = 2.1 s of the kill."""
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)], check=fast_check()))
    wait_until(lambda: len(main.health_checks()) >= 2, 3, "two checks of the main")
    mark = haven.event_mark()
    main.kill()
    killed_at = time.monotonic()
    m = haven.wait_event(down_line("api/main_api", r"check: connection refused, \d+ms")
                         + r"; 0 main and 1 backup up; api running on backup", timeout=2.1, since=mark)
    note(f"detected after {time.monotonic() - killed_at:.2f}s: {m.group(0)!r}")
    check_eq(main.traffic(), [], "traffic at the main (there was none)")


@test
def main_recovers_after_rise_checks_and_takes_traffic_again() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)], check=fast_check(rise=3)))
    check_eq(served_by(haven.get("/api/one")), "main_api", "server before the kill")
    mark = haven.event_mark()
    main.kill()
    haven.wait_event(down_line("api/main_api"), timeout=3, since=mark)
    for i in range(3):
        check_eq(served_by(haven.get(f"/api/down/{i}")), "fallback_api", f"server of request {i} while DOWN")
    checks_before = len(main.health_checks())
    mark = haven.event_mark()
    main.restart()
    m = haven.wait_event(up_line("api/main_api", r"check: status 200, \d+ms") + r"; 1 main and 1 backup up\n",
                         timeout=4, since=mark)
    checks_after = len(main.health_checks()) - checks_before
    check(checks_after >= 3, f"UP after {checks_after} successful check(s), rise is 3: {m.group(0)!r}")
    for i in range(4):
        check_eq(served_by(haven.get(f"/api/back/{i}")), "main_api", f"server of request {i} after the UP line")
    with haven.client() as c:   # and on a keep-alive connection
        for i in range(3):
            check_eq(served_by(c.request("GET", f"/api/ka/{i}")), "main_api", f"keep-alive request {i}")


# ---------------------------------------------------------------------------------------------
# Retry decisions
# ---------------------------------------------------------------------------------------------

def closing_handler(mode: str):
    """Reads the request (body included), then closes ("close": FIN) or resets ("reset": RST)
    the connection without a response byte."""
    def handler(req, conn) -> bool:
        if is_health_check(req):
            answer(req, conn)
            return False
        if mode == "reset":
            conn.reset()
        return False
    return handler


@test
def post_closed_before_response_gets_502_and_is_not_replayed() -> None:
    a1 = Upstream(handler=closing_handler("close"), name="a1")
    a2 = Upstream(name="a2")
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=2))
    body = b'{"order": 1}'
    with haven.client() as c:
        resp = c.request("POST", "/api/orders", headers=[("Content-Type", "application/json")], body=body)
    check_eq(resp.status, 502, f"status of the POST (body {resp.body[:200]!r})")
    posts_a1 = [r for r in a1.traffic() if r.method == "POST"]
    check_eq(len(posts_a1), 1, "POSTs at a1 (the server that closed)")
    check_eq(posts_a1[0].body, body, "body a1 read")
    check_eq([(r.method, r.target) for r in a2.traffic()], [], "requests at a2 (a POST that was written is never replayed)")


@test
def get_closed_before_response_is_answered_by_the_other_server() -> None:
    for mode in ("close", "reset"):
        a1 = Upstream(handler=closing_handler(mode), name="a1")
        a2 = Upstream(name="a2")
        haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=2))
        resp = haven.get(f"/api/idempotent-{mode}")
        check_eq(resp.status, 200, f"status of the GET when a1 does {mode} (body {resp.body[:200]!r})")
        check_eq(served_by(resp), "a2", f"server answering after a1 did {mode}")
        check_eq([r.target for r in a1.traffic()], [f"/api/idempotent-{mode}"], f"requests at a1 ({mode})")
        for method in ("PUT", "DELETE"):
            resp = haven.get(f"/api/{method.lower()}-{mode}", method=method, body=b"x" if method == "PUT" else None)
            check_eq((resp.status, served_by(resp) if resp.status == 200 else None), (200, "a2"),
                     f"{method} when a1 does {mode}")
        haven.stop()
        a1.stop()
        a2.stop()


@test
def a_request_sent_again_carries_its_whole_body() -> None:
    """A PUT whose body reached the first server in two parts (some with the head, the rest after
    the connection was made) goes to the other server with every byte, chunked or not."""
    for framing in ("chunked", "length"):
        a1 = Upstream(handler=closing_handler("close"), name="a1")
        a2 = Upstream(name="a2")
        haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=2))
        first, rest = b"first part of the body;", b" and the rest, sent once a1 had the head"
        body = first + rest
        with haven.client() as c:
            if framing == "chunked":
                c.send(b"PUT /api/replay HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       b"%x\r\n%s\r\n" % (len(first), first))
                wait_until(lambda: a1.connections >= 1, 5.0, "haven connected to a1")
                c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
            else:
                c.send(b"PUT /api/replay HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + first)
                wait_until(lambda: a1.connections >= 1, 5.0, "haven connected to a1")
                c.send(rest)
            resp = c.read_response("PUT")
        check_eq((resp.status, served_by(resp) if resp.status == 200 else None), (200, "a2"), f"PUT ({framing})")
        check_eq([r.body for r in a1.traffic()], [body], f"body a1 read ({framing})")
        check_eq([r.body for r in a2.traffic()], [body], f"body a2 read ({framing})")
        haven.stop()
        a1.stop()
        a2.stop()


def closes_second_request_handler(req, conn) -> bool:
    """Answers the first request of each connection (keep-alive); closes the connection when the
    second one arrives, without a response byte: a stale pooled connection."""
    if req.conn_id not in conn.upstream.seen_conns:
        conn.upstream.seen_conns.add(req.conn_id)
        answer(req, conn)
        return True
    return False


def reused_connection_pair() -> tuple[Upstream, Upstream]:
    a1 = Upstream(handler=closes_second_request_handler, name="a1")
    a1.seen_conns = set()
    return a1, Upstream(name="a2")


@test
def get_on_reused_connection_closed_before_response_is_retried() -> None:
    a1, a2 = reused_connection_pair()
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=2))
    check_eq(served_by(haven.get("/api/first")), "a1", "first request")
    resp = haven.get("/api/second")
    check_eq(resp.status, 200, f"GET on the stale pooled connection (body {resp.body[:200]!r})")
    check_eq(a1.connections, 1 if served_by(resp) == "a2" else 2, f"connections at a1 (answered by {served_by(resp)})")
    note(f"a1 saw {[(r.target, r.conn_id) for r in a1.traffic()]}, a2 saw {[r.target for r in a2.traffic()]}")


@test
def post_on_reused_connection_closed_before_response_is_not_replayed() -> None:
    a1, a2 = reused_connection_pair()
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=2))
    check_eq(served_by(haven.get("/api/first")), "a1", "first request")
    resp = haven.get("/api/orders", method="POST", body=b"order-2")
    check_eq(resp.status, 502, f"POST on the stale pooled connection (body {resp.body[:200]!r})")
    check_eq([r.method for r in a1.traffic()], ["GET", "POST"], "requests at a1")
    check_eq(a2.traffic(), [], "requests at a2")
    check_eq(a1.connections, 1, "connections at a1 (the POST was not sent again)")


@test
def retry_tries_the_same_tier_before_the_backups() -> None:
    a1, a2, b1 = Upstream("refuse", name="a1"), Upstream(name="a2"), Upstream(name="b1")
    haven = Haven(api_config([server_entry(a1), server_entry(a2), server_entry(b1, backup=True)], balance="first", retries=2))
    for i in range(4):
        resp = haven.get(f"/api/tier/{i}")
        check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "a2"),
                 f"answer to request {i}")
    check_eq(b1.traffic(), [], "requests at the backup")


@test
def retries_limit_the_number_of_servers_tried() -> None:
    for retries, expect_ok in ((1, False), (2, True)):
        a1, a2, a3 = Upstream("refuse", name="a1"), Upstream("refuse", name="a2"), Upstream(name="a3")
        haven = Haven(api_config([server_entry(a1), server_entry(a2), server_entry(a3)], balance="first", retries=retries))
        resp = haven.get("/api/limit")
        if expect_ok:
            check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "a3"),
                     f"answer with retries = {retries}")
        else:
            check(resp.status in (502, 503), f"status {resp.status} with retries = {retries} and 2 refusing servers")
            check_eq(a3.traffic(), [], f"requests at a3 with retries = {retries}")
        haven.stop()


@test
def get_closed_before_response_goes_to_the_backup_tier() -> None:
    a1 = Upstream(handler=closing_handler("close"), name="a1")
    b1 = Upstream(name="b1")
    haven = Haven(api_config([server_entry(a1), server_entry(b1, backup=True)], retries=2))
    resp = haven.get("/api/to-backup")
    check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "b1"),
             "answer when the only main closes without a response")


@test
def post_to_refused_server_goes_to_the_other_main() -> None:
    """Connecting failed: the request was never written, so even a POST goes elsewhere."""
    a1 = Upstream("refuse", name="a1")
    a2 = Upstream(name="a2")
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=2))
    body = b"p" * 5000
    for i in range(3):
        resp = haven.get(f"/api/post/{i}", method="POST", body=body)
        check_eq(resp.status, 200, f"status of POST {i} (body {resp.body[:200]!r})")
        check_eq((resp.json()["server"], resp.json()["body_length"]), ("a2", len(body)), f"POST {i}")


@test
def connection_refused_on_one_main_answered_by_the_other() -> None:
    """Both mains healthy at first; a1 is killed. Active checks are slow (10s), so requests still
    go to a1 for a while: each is answered by a2, none sees an error."""
    a1, a2 = Upstream(name="a1"), Upstream(name="a2")
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], check=fast_check(interval="10s", fall=5), retries=2))
    counts = collections.Counter(served_by(haven.get(f"/api/warm/{i}")) for i in range(4))
    check_eq(dict(counts), {"a1": 2, "a2": 2}, "round robin before the kill")
    a1.kill()
    for i in range(10):
        resp = haven.get(f"/api/after/{i}")
        check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "a2"),
                 f"answer to request {i} after a1 was killed")


@test
def no_retry_once_response_bytes_reached_the_client() -> None:
    """a1 sends a response head and part of the body, then resets: the client connection is
    aborted (the body stays short) and a2 never sees the request."""
    a1 = Upstream("reset", name="a1", reset_after=1000)
    a2 = Upstream(name="a2")
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=2))
    with haven.client(timeout=5) as c:
        c.send(c.build_request("GET", "/api/partial"))
        head = c.read_head()
        check_eq(head.status, 200, "status of the partly sent response")
        got = c.wait_closed(5)
        check(len(got) < 1048576, f"got the whole body ({len(got)} bytes)?")
    check_eq([r.target for r in a2.traffic()], [], "requests at a2")
    check_eq(len(a1.traffic()), 1, "requests at a1")


@test
def retries_zero_means_no_second_server() -> None:
    a1 = Upstream(handler=closing_handler("close"), name="a1")
    a2 = Upstream(name="a2")
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], balance="first", retries=0))
    resp = haven.get("/api/once")
    check_eq(resp.status, 502, f"status with retries = 0 (body {resp.body[:200]!r})")
    check_eq(a2.traffic(), [], "requests at a2")


# ---------------------------------------------------------------------------------------------
# Hung servers
# ---------------------------------------------------------------------------------------------

def hanging_handler(hang: threading.Event):
    """Answers normally until `hang` is set; then reads every request (checks included) and
    never answers."""
    def handler(req, conn) -> bool:
        if hang.is_set():
            conn.wait_stop(30)
            return False
        answer(req, conn)
        return True
    return handler


def start_hung_pair(check: dict, server_timeout: str):
    """A main server that stops answering once `hang` is set, a healthy backup, and haven in front
    with `check`; the main has answered one request before the test begins."""
    hang = threading.Event()
    main = Upstream(handler=hanging_handler(hang), name="main_api")
    backup = Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)],
                             check=check, timeouts={"server": server_timeout}))
    check_eq(served_by(haven.get("/api/before")), "main_api", "server before the hang")
    return hang, main, backup, haven


@test
def hung_main_request_resent_to_backup_when_main_goes_down() -> None:
    hang, main, backup, haven = start_hung_pair(fast_check(fall=2), server_timeout="10s")
    wait_until(lambda: len(main.health_checks()) >= 1, 3, "a check of the main")
    mark = haven.event_mark()
    hang.set()
    start = time.monotonic()
    with haven.client(timeout=12) as c:
        # Two more idempotent requests wait on the hung main at the same time.
        others = [haven.client(timeout=12) for _ in range(2)]
        others[0].send(others[0].build_request("HEAD", "/api/hung-head"))
        others[1].send(others[1].build_request("PUT", "/api/hung-put", body=b"put-body"))
        resp = c.request("GET", "/api/hung")
        elapsed = time.monotonic() - start
        check_eq(resp.status, 200, f"status after {elapsed:.2f}s (body {resp.body[:200]!r})")
        check_eq(served_by(resp), "fallback_api", "server answering")
        check(elapsed < 3.0, f"answered after {elapsed:.2f}s (server timeout is 10s; DOWN should re-send it)")
        note(f"answered by the backup after {elapsed:.2f}s")
        for other, method in zip(others, ("HEAD", "PUT")):
            other.settimeout(max(0.5, 3.0 - (time.monotonic() - start)))
            r = other.read_response(method)
            check_eq(r.status, 200, f"{method} waiting on the hung main")
            if method == "PUT":
                check_eq((served_by(r), r.json()["body_length"]), ("fallback_api", 8), "re-sent PUT")
            other.close()
        check_eq(c.request("GET", "/api/next").status, 200, "next request on the same connection")
    targets = [r.target for r in main.traffic()]
    for target in ("/api/hung", "/api/hung-head", "/api/hung-put"):
        check(target in targets, f"{target} was first sent to the main (main saw {targets})")
    haven.wait_event(down_line("api/main_api", r"check: timeout, \d+ms"), timeout=1, since=mark)


@test
def hung_main_request_resent_after_one_failed_check() -> None:
    """A slow verdict (fall 20: DOWN after about 6 s) does not keep requests waiting: once a check
    of the main has failed, a GET that has waited at least the check timeout goes to the backup."""
    hang, main, backup, haven = start_hung_pair(fast_check(fall=20), server_timeout="20s")
    wait_until(lambda: len(main.health_checks()) >= 1, 3, "a check of the main")
    mark = haven.event_mark()
    hang.set()
    start = time.monotonic()
    with haven.client(timeout=12) as c:
        resp = c.request("GET", "/api/hung-early")
        elapsed = time.monotonic() - start
    check_eq(resp.status, 200, f"status after {elapsed:.2f}s")
    check_eq(served_by(resp), "fallback_api", "server answering")
    # interval 300 ms + timeout 200 ms: the first failed check ends within about 0.5 s; a margin
    # of 6x for a loaded machine, still half the time DOWN needs.
    check(elapsed < 3.0, f"answered after {elapsed:.2f}s; DOWN needs about 6 s")
    check(not any("DOWN" in line for line in haven.event_lines(since=mark)),
          "the main was already DOWN: this did not test the early re-send")
    check("/api/hung-early" in [r.target for r in main.traffic()], "the GET was first sent to the main")
    note(f"answered by the backup after {elapsed:.2f}s, before the main was DOWN")


@test
def request_to_a_server_that_failed_its_last_check_is_resent_after_the_check_timeout() -> None:
    """After a failed check (but long before fall 5 says DOWN), a new GET still goes to the main
    (tiers are unchanged) but only waits as long as a check would: 200 ms, then the backup."""
    hang, main, backup, haven = start_hung_pair(fast_check(fall=5, interval="4s"), server_timeout="20s")
    mark = haven.event_mark()
    checks_before = len(main.health_checks())
    hang.set()
    # A check after the hang has been sent; a second later its 200 ms timeout has long passed (it
    # failed), and the next check cannot fail for another 3 s. Only the short wait can answer the
    # GET sooner than that. (Nothing is logged for one failed check, so this waits, with a margin
    # of 5x over the check timeout for a loaded machine.)
    wait_until(lambda: len(main.health_checks()) > checks_before, 6, "a check after the hang")
    time.sleep(1.0)
    start = time.monotonic()
    with haven.client(timeout=12) as c:
        resp = c.request("GET", "/api/after-a-failed-check")
        elapsed = time.monotonic() - start
    check_eq(resp.status, 200, "status")
    check_eq(served_by(resp), "fallback_api", "server answering")
    check(elapsed < 1.5, f"answered after {elapsed:.2f}s (check timeout 200 ms; the next failed check is 3 s away)")
    check(not any("DOWN" in line for line in haven.event_lines(since=mark)),
          "the main was already DOWN: this did not test the short wait")
    check("/api/after-a-failed-check" in [r.target for r in main.traffic()], "the GET went to the main first")


@test
def hung_lone_server_is_not_sent_the_same_request_again() -> None:
    """With no other server, a failed check is no reason to re-send: a new connection to the same
    silent server would only add load. The request waits for the server timeout (504)."""
    hang = threading.Event()
    main = Upstream(handler=hanging_handler(hang), name="main_api")
    haven = Haven(api_config([server_entry(main)], check=fast_check(fall=5), timeouts={"server": "2s"}))
    check_eq(served_by(haven.get("/api/before")), "main_api", "server before the hang")
    hang.set()
    with haven.client(timeout=8) as c:
        resp = c.request("GET", "/api/lone")
    check(resp.status in (503, 504), f"status {resp.status}")
    sent = [r.target for r in main.traffic()].count("/api/lone")
    check_eq(sent, 1, "times the GET reached the lone server")


@test
def hung_main_post_is_not_resent() -> None:
    """The same hang with a POST: it is not idempotent, so it is not re-sent to the backup; it
    ends with the server timeout (3s) as 502/504."""
    hang, main, backup, haven = start_hung_pair(fast_check(fall=2), server_timeout="3s")
    hang.set()
    start = time.monotonic()
    resp = haven.get("/api/hung-post", method="POST", body=b"once", timeout=10)
    elapsed = time.monotonic() - start
    check(resp.status in (502, 504), f"status {resp.status} after {elapsed:.2f}s (body {resp.body[:200]!r})")
    check_eq([r.target for r in backup.traffic() if r.method == "POST"], [], "POSTs at the backup")
    check("/api/hung-post" in [r.target for r in main.traffic()], "the POST was sent to the main")
    note(f"POST to the hung main: {resp.status} after {elapsed:.2f}s")


# ---------------------------------------------------------------------------------------------
# Passive checks
# ---------------------------------------------------------------------------------------------

@test
def passive_checks_take_killed_main_down_before_the_next_active_check() -> None:
    main, backup = Upstream(name="main_api"), Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)],
                             check=fast_check(interval="10s", fall=2), retries=2))
    wait_until(lambda: len(main.health_checks()) >= 1, 3, "the start-up check of the main")
    check_eq(served_by(haven.get("/api/warm")), "main_api", "server before the kill")
    mark = haven.event_mark()
    main.kill()
    killed_at = time.monotonic()
    rx = re.compile(down_line("api/main_api", r"traffic: [^)]*") + r"; 0 main and 1 backup up; api running on backup")
    answers = []
    for i in range(8):
        resp = haven.get(f"/api/passive/{i}")
        answers.append(resp.status)
        check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "fallback_api"),
                 f"answer to request {i} after the kill")
        if rx.search(haven.events(), mark):
            break
    m = haven.wait_event(rx.pattern, timeout=1, since=mark)
    note(f"{len(answers)} request(s), DOWN after {time.monotonic() - killed_at:.2f}s: {m.group(0)!r}")
    check(time.monotonic() - killed_at < 5, "DOWN came from traffic, before the next active check (10s)")


@test
def passive_checks_count_fresh_connections_closed_before_a_response() -> None:
    main = Upstream(handler=closing_handler("close"), name="main_api")
    backup = Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)],
                             check=fast_check(interval="10s", fall=2), retries=2))
    wait_until(lambda: len(main.health_checks()) >= 1, 3, "the start-up check of the main")
    rx = re.compile(down_line("api/main_api", r"traffic: [^)]*"))
    for i in range(6):
        resp = haven.get(f"/api/closing/{i}")
        check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "fallback_api"),
                 f"answer to request {i}")
        if rx.search(haven.events()):
            break
    m = haven.wait_event(rx.pattern, timeout=1)
    note(f"{m.group(0)!r} after {i + 1} request(s)")
    check_eq(len(main.traffic()), 2, f"requests at the main before it was DOWN (fall 2): {m.group(0)!r}")


@test
def passive_checks_count_response_timeouts() -> None:
    main = Upstream("slow", name="main_api", delay=3)
    backup = Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)],
                             check=fast_check(interval="10s", timeout="5s", fall=1), retries=2,
                             timeouts={"server": "500ms"}))
    start = time.monotonic()
    resp = haven.get("/api/slow", timeout=6)
    elapsed = time.monotonic() - start
    note(f"first request: {resp.status} after {elapsed:.2f}s")
    check(resp.status in (200, 504), f"status {resp.status}")
    m = haven.wait_event(down_line("api/main_api", r"traffic: [^)]*"), timeout=2)
    note(repr(m.group(0)))
    resp = haven.get("/api/after")
    check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "fallback_api"),
             "answer once the main is DOWN")


@test
def no_passive_down_without_a_check_table() -> None:
    """Passive checks only apply to backends with active checks (nothing else would bring the
    server back): a killed server is skipped by retries but never logged DOWN."""
    a1, a2 = Upstream(name="a1"), Upstream(name="a2")
    haven = Haven(api_config([server_entry(a1), server_entry(a2)], retries=2))
    a1.kill()
    for i in range(8):
        resp = haven.get(f"/api/nocheck/{i}")
        check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "a2"),
                 f"answer to request {i}")
    check(" is DOWN " not in haven.events(), f"DOWN line without a check table:\n{haven.events()[-2000:]}")


# ---------------------------------------------------------------------------------------------
# Backup tier selection
# ---------------------------------------------------------------------------------------------

def backups_config(all_backups: bool | None) -> tuple[str, Upstream, Upstream]:
    a1 = Upstream("refuse", name="a1")
    b1, b2 = Upstream(name="b1"), Upstream(name="b2")
    keys = {} if all_backups is None else {"all_backups": all_backups}
    text = api_config([server_entry(a1), server_entry(b1, backup=True), server_entry(b2, backup=True)],
                      check=fast_check(fall=1), **keys)
    return text, b1, b2


@test
def all_backups_spreads_requests_over_every_backup() -> None:
    text, b1, b2 = backups_config(True)
    haven = Haven(text)
    haven.wait_event(down_line("api/a1") + r"; 0 main and 2 backup up; api running on backup", timeout=3)
    counts = collections.Counter(served_by(haven.get(f"/api/all/{i}")) for i in range(20))
    check(counts["b1"] >= 5 and counts["b2"] >= 5, f"split over the backups {dict(counts)}, want both used")
    check_eq(sum(counts.values()), 20, "answers")


@test
def without_all_backups_only_the_first_up_backup_serves() -> None:
    text, b1, b2 = backups_config(None)
    haven = Haven(text)
    haven.wait_event(down_line("api/a1") + r"; 0 main and 2 backup up; api running on backup", timeout=3)
    counts = collections.Counter(served_by(haven.get(f"/api/first/{i}")) for i in range(12))
    check_eq(dict(counts), {"b1": 12}, "split (first backup in declared order)")
    mark = haven.event_mark()
    b1.kill()
    haven.wait_event(down_line("api/b1") + r"; 0 main and 1 backup up; api running on backup", timeout=3, since=mark)
    counts = collections.Counter(served_by(haven.get(f"/api/second/{i}")) for i in range(6))
    check_eq(dict(counts), {"b2": 6}, "split once b1 is DOWN")


@test
def a_server_back_from_down_ramps_up_over_slow_start() -> None:
    """With slow_start, a server that comes back gets a small share of new requests at first
    (the ramp's end is covered by the unit tests: waiting 20 s here would only slow the suite)."""
    a = Upstream(name="a")
    b = Upstream(name="b")
    haven = Haven(make_config({"static": {"check": fast_check(), "slow_start": "20s",
                                          "servers": [{"name": "a", "address": a}, {"name": "b", "address": b}]}},
                              extra='[admin]\nbind = "127.0.0.1:0"\n'))
    b.kill()
    haven.wait_event(down_line("static/b"))
    mark = haven.event_mark()
    b.restart()
    haven.wait_event(up_line("static/b"), since=mark)
    counts = collections.Counter(served_by(haven.get("/")) for _ in range(100))
    check(counts["b"] <= 25, f"share of the server still in its slow start: {dict(counts)}")
    stats = haven.admin("GET", "/api/v1/backends/static/servers/b").json()
    check(stats["weight"]["effective"] <= stats["weight"]["configured"], f"weights during the ramp: {stats['weight']}")
    check(counts["a"] + counts["b"] == 100, f"every request answered: {dict(counts)}")


if __name__ == "__main__":
    run()
