"""The public status feed (frontend status_path, default /.haven/status): JSON with ETag and 304,
what each backend's mode is, since when and why (in words that name no server or address), HEAD
and other methods, and the text/event-stream form: a change pushed within 100 ms of haven's
decision, heartbeats, the per-worker subscriber limit, reloads, shutdown, and the memory 5,000
subscribers cost."""
import json
import os
import resource
import signal
import socket
import time

from harness import (Client, Haven, TestFailure, Upstream, check, check_eq, haven_is_sanitized, make_config, note,
                     run, test, wait_until)

FAST = {"path": "/healthz", "interval": "200ms", "timeout": "150ms", "rise": 1, "fall": 1}
ADMIN = '[admin]\nbind = "127.0.0.1:0"\n'
STATUS = "/.haven/status"
STREAM = [("Accept", "text/event-stream")]


def entry(upstream: Upstream, backup: bool = False) -> dict:
    spec = {"name": upstream.name, "address": upstream}
    if backup:
        spec["backup"] = True
    return spec


def feed_config(main: Upstream, backup: Upstream, static: Upstream, frontend: dict | None = None,
                extra: str = "", global_: dict | None = None, timeouts: dict | None = None) -> str:
    return make_config({"api": {"check": FAST, "servers": [entry(main), entry(backup, backup=True)]},
                        "static": [static]}, frontend=frontend, extra=extra, global_=global_, timeouts=timeouts)


def feed(haven: Haven, headers=()) -> tuple[dict, str]:
    resp = haven.get(STATUS, headers=list(headers))
    check_eq(resp.status, 200, f"feed status ({resp.body[:200]!r})")
    check_eq(resp.headers.get("content-type"), "application/json", "feed Content-Type")
    check_eq(resp.headers.get("cache-control"), "no-store", "feed Cache-Control")
    check_eq(resp.headers.get("content-length"), str(len(resp.body)), "feed Content-Length")
    etag = resp.headers.get("etag") or ""
    check(etag.startswith('"') and etag.endswith('"') and len(etag) == 18, f"ETag {etag!r}")
    return json.loads(resp.body), etag


def wait_mode(haven: Haven, backend: str, mode: str, timeout: float = 5.0) -> tuple[dict, str]:
    found: list = []

    def reached() -> bool:
        body, etag = feed(haven)
        found[:] = [body, etag]
        return body["backends"][backend]["mode"] == mode

    wait_until(reached, timeout, f"feed shows {backend} {mode} (last: {found[:1]})")
    return found[0], found[1]


class EventStream:
    """A subscriber: reads the response head, then events ("event:/id:/data:" blocks) and comments."""

    def __init__(self, haven: Haven, timeout: float = 5.0, port: int | None = None):
        self.client = haven.client(timeout=timeout, port=port)
        self.client.send(Client.build_request("GET", STATUS, STREAM))
        self.head = self.client.read_head()
        self.pending = b""

    def next_block(self, timeout: float = 5.0) -> bytes:
        """The next block up to a blank line (an event, a comment, or the opening retry line)."""
        self.client.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.pending:
            if time.monotonic() > deadline:
                raise TestFailure(f"no event-stream block within {timeout}s (have {self.pending[:200]!r})")
            piece = self.client.rfile.read1(65536)
            if not piece:
                raise TestFailure(f"stream closed (have {self.pending[:200]!r})")
            self.pending += piece
        block, self.pending = self.pending.split(b"\n\n", 1)
        return block

    def next_event(self, timeout: float = 5.0) -> tuple[str, dict]:
        """The next status event as (id, data), skipping comments and the retry line."""
        deadline = time.monotonic() + timeout
        while True:
            block = self.next_block(max(0.01, deadline - time.monotonic()))
            fields = dict(line.split(": ", 1) for line in block.decode().split("\n") if ": " in line)
            if fields.get("event") == "status":
                return fields["id"], json.loads(fields["data"])

    def close(self) -> None:
        self.client.close()


@test
def feed_follows_backup_maintenance_and_recovery_with_reasons_and_etags() -> None:
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    haven = Haven(feed_config(main, backup, static))
    body, etag = feed(haven)
    check_eq(body["serving"], True, "serving at start")
    check_eq(list(body["backends"]), ["static", "api"], "backends the frontend routes to, in order")
    api = body["backends"]["api"]
    check_eq((api["mode"], api["previous"], api["reason"], api["retry_after"]), ("primary", None, None, None),
             "api at start")
    # The same state: 304 (also with the tag in a list or weak), and no body.
    for value in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
        resp = haven.get(STATUS, headers=[("If-None-Match", value)])
        check_eq((resp.status, resp.body, resp.headers.get("etag")), (304, b"", etag), f"If-None-Match: {value}")

    main.kill()
    body, etag2 = wait_mode(haven, "api", "backup")
    api = body["backends"]["api"]
    check_eq((api["previous"], api["reason"], body["serving"]), ("primary", "main servers failing checks", True),
             "api on backup")
    check(etag2 != etag, "a new state has a new tag")
    check_eq(haven.get(STATUS, headers=[("If-None-Match", etag)]).status, 200, "the old tag gets the new state")

    backup.kill()
    body, _ = wait_mode(haven, "api", "maintenance")
    api = body["backends"]["api"]
    check_eq((api["previous"], api["reason"], api["retry_after"], body["serving"]),
             ("backup", "main and backup servers failing checks", 5, False), "api in maintenance")
    check_eq(body["backends"]["static"]["mode"], "primary", "static is not affected")
    # It names no server and no address.
    raw = haven.get(STATUS).body.decode()
    for secret in ("main_api", "fallback_api", "127.0.0.1", str(main.port), str(backup.port)):
        check(secret not in raw, f"the feed reveals {secret!r}: {raw}")

    main.restart()
    body, _ = wait_mode(haven, "api", "primary")
    api = body["backends"]["api"]
    check_eq((api["previous"], api["reason"], body["serving"]), ("maintenance", "main servers back in service", True),
             "api back")
    since = time.mktime(time.strptime(api["since"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    check(abs(since - time.time()) < 60, f"since {api['since']} is now")


@test
def head_query_methods_path_and_the_feed_turned_off() -> None:
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    haven = Haven(feed_config(main, backup, static, frontend={"status_path": "/status.json"}))
    with haven.client() as c:
        full = c.request("GET", "/status.json?v=123")
        check_eq(full.status, 200, "GET with a query")
        head = c.request("HEAD", "/status.json")
        check_eq((head.status, head.body, head.headers.get("content-length"), head.headers.get("etag")),
                 (200, b"", str(len(full.body)), full.headers.get("etag")), "HEAD")
        check(c.is_open(0.2), "keep-alive after feed answers")
        resp = c.request("GET", STATUS)
        check_eq((resp.status, resp.json()["server"]), (200, "main_static"), "the default path is routed when moved")
    with haven.client() as c:
        post = c.request("POST", "/status.json", body=b"{}")
        check_eq((post.status, post.headers.get("allow")), (405, "GET, HEAD"), "POST")
    check_eq(len([r for r in static.traffic() if r.path.startswith("/status.json")]), 0,
             "feed requests reached a server")
    lines = haven.wait_access_lines(4)
    check(any('"GET /status.json?v=123 HTTP/1.1" 200' in line and " web -/- " in line for line in lines),
          f"access log of a feed request names no backend: {lines}")

    off = Haven(feed_config(main, backup, static, frontend={"status_path": ""}))
    resp = off.get(STATUS)
    check_eq((resp.status, resp.json()["server"]), (200, "main_static"), "status_path = \"\" routes the path")


@test
def event_stream_pushes_each_change_within_100ms() -> None:
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    haven = Haven(feed_config(main, backup, static, extra=ADMIN))
    stream = EventStream(haven)
    check_eq(stream.head.status, 200, "stream status")
    check_eq(stream.head.headers.get("content-type"), "text/event-stream", "stream Content-Type")
    check_eq(stream.head.headers.get("cache-control"), "no-store", "stream Cache-Control")
    check(not stream.head.headers.has("content-length"), "a stream has no length")
    check_eq(stream.next_block(), b"retry: 2000", "reconnection delay first")
    first_id, first = stream.next_event()
    check_eq(first["backends"]["api"]["mode"], "primary", "first event: the state now")
    check_eq(first_id, haven.get(STATUS).headers.get("etag"), "event id is the JSON's tag")

    # Weight 0 takes the main server out at once and back at once (no check to wait for), so the
    # time measured is haven's decision reaching the subscriber.
    delays = []
    for weight, mode in ((0, "backup"), (None, "primary"), (0, "backup"), (None, "primary")):
        started = time.monotonic()
        answer = haven.admin("PATCH", "/api/v1/backends/api/servers/main_api", {"weight": weight})
        check_eq(answer.status, 200, f"set weight {weight}")
        _, data = stream.next_event(timeout=5)
        delays.append((time.monotonic() - started) * 1000)
        check_eq(data["backends"]["api"]["mode"], mode, f"event after weight {weight}")
    reason = haven.get(STATUS).json()["backends"]["api"]
    note(f"change to event: {', '.join(f'{d:.1f} ms' for d in delays)}")
    check(max(delays) < 100, f"events took {delays} ms")
    # Nothing more is sent while nothing changes (no duplicate of the same state).
    stream.client.sock.settimeout(0.3)
    try:
        extra = stream.client.rfile.read1(65536)
    except (TimeoutError, socket.timeout):
        extra = b""
    check_eq(extra, b"", "bytes without a change")
    check_eq((reason["previous"], reason["reason"]), ("backup", "main servers back in service"),
             "the feed agrees with the stream")
    stream.close()


@test
def heartbeats_keep_an_idle_stream_alive() -> None:
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    # Shorter than the keep-alive and request timeouts: those do not apply to a subscriber.
    haven = Haven(feed_config(main, backup, static, global_={"status_heartbeat": "200ms"},
                              timeouts={"keep_alive": "300ms", "http_request": "300ms"}))
    stream = EventStream(haven)
    stream.next_event()
    started = time.monotonic()
    for _ in range(5):
        check_eq(stream.next_block(timeout=3), b":", "heartbeat comment")
    elapsed = time.monotonic() - started
    check(elapsed >= 0.8, f"five heartbeats of 200 ms came in {elapsed:.2f} s")
    check(stream.client.is_open(0.1), "the stream outlived keep_alive and http_request")
    stream.close()


@test
def subscriber_limit_refuses_with_503_and_frees_slots() -> None:
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    haven = Haven(feed_config(main, backup, static, global_={"max_status_subscribers": 2}))
    streams = [EventStream(haven), EventStream(haven)]
    for s in streams:
        check_eq(s.head.status, 200, "within the limit")
    with haven.client() as c:
        resp = c.request("GET", STATUS, headers=STREAM)
        check_eq(resp.status, 503, "over the limit")
    check_eq(haven.get(STATUS).status, 200, "the JSON is still served over the limit")
    streams[0].close()

    def third_accepted() -> bool:
        s = EventStream(haven)
        if s.head.status == 200:
            streams.append(s)
            return True
        s.close()
        return False

    wait_until(third_accepted, 5, "a slot freed by a closed subscriber")
    for s in streams[1:]:
        s.close()


@test
def a_reload_keeps_subscribers_and_sends_the_new_feed_and_removal_closes_them() -> None:
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    extra_backend = Upstream(name="reports")
    haven = Haven(feed_config(main, backup, static, extra=ADMIN))
    stream = EventStream(haven)
    _, first = stream.next_event()
    check_eq(sorted(first["backends"]), ["api", "static"], "before")
    text = make_config({"api": {"check": FAST, "servers": [entry(main), entry(backup, backup=True)]},
                        "static": [static], "reports": [extra_backend]},
                       routes=[{"path_prefix": "/api", "backend": "api"},
                               {"path_prefix": "/reports", "backend": "reports"}], extra=ADMIN)
    with open(haven.config_path, "w") as f:
        f.write(text)
    check_eq(haven.admin("POST", "/api/v1/reload").status, 200, "reload")
    _, after = stream.next_event()
    check_eq(sorted(after["backends"]), ["api", "reports", "static"], "after a reload adding a route")

    # A reload that removes the frontend (another name, so another listener) closes the stream.
    renamed = text.replace("[frontends.web]", "[frontends.www]")
    with open(haven.config_path, "w") as f:
        f.write(renamed)
    check_eq(haven.admin("POST", "/api/v1/reload").status, 200, "reload without frontend web")
    stream.client.wait_closed(timeout=5)


@test
def shutdown_closes_subscribers_at_once() -> None:
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    haven = Haven(feed_config(main, backup, static, timeouts={"shutdown": "30s"}))
    streams = [EventStream(haven) for _ in range(3)]
    for s in streams:
        s.next_event()
    started = time.monotonic()
    haven.signal(signal.SIGTERM)
    for s in streams:
        s.client.wait_closed(timeout=5)
    check_eq(haven.wait(10), 0, "exit status")
    elapsed = time.monotonic() - started
    check(elapsed < 10, f"shutdown with subscribers took {elapsed:.1f} s (grace is 30 s)")


@test
def five_thousand_subscribers_cost_under_10_mib() -> None:
    count = 5000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    main, backup, static = Upstream(name="main_api"), Upstream(name="fallback_api"), Upstream(name="main_static")
    # All from one address: the per-client connection limit is lifted for this test.
    haven = Haven(feed_config(main, backup, static,
                              global_={"max_connections_per_client": 0, "max_status_subscribers": count}))
    check_eq(feed(haven)[0]["serving"], True, "feed")
    before = rss_kib(haven.proc.pid)
    request = Client.build_request("GET", STATUS, STREAM)
    sockets = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", haven.port), timeout=5)
            s.sendall(request)
            sockets.append(s)
        for i, s in enumerate(sockets):
            read_until(s, b"event: status", f"subscriber {i}")
        time.sleep(0.5)  # the last reads settle (RSS is sampled, not waited on)
        after = rss_kib(haven.proc.pid)
        per = (after - before) / count
        note(f"{count} subscribers: RSS {before} -> {after} KiB, {per:.2f} KiB each")
        # A sanitizer's red zones and quarantine make every allocation larger: the bound is for a
        # plain build (the subscribers are still opened and notified below).
        if not haven_is_sanitized():
            check(after - before < 10 * 1024, f"{count} subscribers cost {after - before} KiB")
        # They all get the next change.
        main.kill()
        for i, s in enumerate(sockets[:: count // 50]):
            read_until(s, b'"mode":"backup"', f"subscriber {i} (the change)")
    finally:
        for s in sockets:
            s.close()


def read_until(sock: socket.socket, marker: bytes, what: str) -> None:
    """Reads `sock` until `marker` has arrived (5 s per read); fails when it closes first."""
    sock.settimeout(5)
    data = b""
    while marker not in data:
        piece = sock.recv(65536)
        if not piece:
            raise TestFailure(f"{what} closed before {marker!r}: {data[:200]!r}")
        data += piece


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise TestFailure("no VmRSS")


if __name__ == "__main__":
    run()
