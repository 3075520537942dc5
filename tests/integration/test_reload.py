"""Configuration reload (SIGHUP and POST /api/v1/reload): nothing in flight is lost, what did not
change keeps its state, a bad file changes nothing, and repeated reloads leak nothing."""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (Haven, Request, Upstream, UpstreamConn, check, check_eq, connect_refused, fast_check,
                     haven_is_sanitized, make_config, note, run, test, wait_until)

ADMIN = '[admin]\nbind = "127.0.0.1:0"\n'


def reload_via_api(haven: Haven) -> dict:
    answer = haven.admin("POST", "/api/v1/reload")
    body = answer.json()
    check_eq(answer.status, 200, f"reload: {body}")
    return body


def rewrite(haven: Haven, text: str) -> None:
    # Written beside and renamed, as editors and deploy tools do: a reload never reads half a file.
    temporary = haven.config_path + ".new"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, haven.config_path)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@test
def reloads_under_load_lose_no_request() -> None:
    """Four keep-alive clients loop GETs through /api and / while the configuration is reloaded 20
    times, alternating between route sets and adding then removing a second listener: every
    request gets a 2xx from the backend its configuration of the moment routes it to."""
    static = Upstream(name="static")
    api = Upstream(name="api")
    other = Upstream(name="other")
    base = {"static": [static], "api": [api], "other": [other]}
    with_api = make_config(base, routes=[{"path_prefix": "/api", "backend": "api"}], extra=ADMIN)
    with_other = make_config(base, routes=[{"path_prefix": "/api", "backend": "other"}],
                             extra=ADMIN + '\n[frontends.second]\nbind = "127.0.0.1:0"\ndefault_backend = "static"\n')
    haven = Haven(with_api)
    stop = threading.Event()
    failures: list[str] = []
    counts = {"requests": 0}
    lock = threading.Lock()

    def client_loop(path: str) -> None:
        while not stop.is_set():
            try:
                with haven.client(timeout=10) as c:
                    for _ in range(50):
                        if stop.is_set():
                            return
                        resp = c.request("GET", path)
                        server = resp.json()["server"]
                        with lock:
                            counts["requests"] += 1
                        if resp.status != 200 or (path == "/" and server != "static") or \
                                (path.startswith("/api") and server not in ("api", "other")):
                            with lock:
                                failures.append(f"{path}: {resp.status} from {server}")
            except Exception as e:  # noqa: BLE001 - every error is a lost request
                with lock:
                    failures.append(f"{path}: {e!r}")
                return

    threads = [threading.Thread(target=client_loop, args=(p,)) for p in ("/", "/api/x", "/", "/api/y")]
    for t in threads:
        t.start()
    try:
        second_ports = set()
        for i in range(20):
            rewrite(haven, with_other if i % 2 == 0 else with_api)
            mark = haven.event_mark()
            if i % 4 == 0:
                haven.signal(signal.SIGHUP)
                haven.wait_event(r"configuration reloaded from .* \(SIGHUP\)", since=mark)
            else:
                reload_via_api(haven)
            if i % 2 == 0:
                frontends = haven.admin("GET", "/stats.json").json()["frontends"]
                second = [f for f in frontends if f["name"] == "second"]
                check_eq(len(second), 1, "the added listener")
                port = int(second[0]["bind"].rsplit(":", 1)[1])
                second_ports.add(port)
                with haven.client(port=port) as added:
                    check_eq(added.request("GET", "/").status, 200, "a request on the added listener")
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    check_eq(failures, [], "requests that failed during the reloads")
    check(counts["requests"] >= 100, f"only {counts['requests']} requests ran during the reloads")
    for port in second_ports:
        check(connect_refused("127.0.0.1", port), f"the removed listener on {port} still accepts")
    stats = haven.admin("GET", "/stats.json").json()
    check_eq(stats["haven"]["config"]["reloads"]["succeeded"], 20, "reloads counted")


@test
def a_bad_configuration_changes_nothing_and_says_where() -> None:
    up = Upstream(name="s1")
    good = make_config({"static": [up]}, extra=ADMIN)
    haven = Haven(good)
    rewrite(haven, good + "\n[backends.broken]\nservers = [ { name = \"x\" } ]\n")
    answer = haven.admin("POST", "/api/v1/reload")
    check_eq(answer.status, 422, "refused reload")
    error = answer.json()["error"]
    line = (good + "\n[backends.broken]\n").count("\n") + 1
    check(f"haven.toml:{line}:" in error and "needs an \"address\"" in error, f"the refusal: {error}")
    mark = haven.event_mark()
    haven.signal(signal.SIGHUP)
    haven.wait_event(r"configuration reload \(SIGHUP\) refused, still running the previous one: .*haven\.toml:"
                     + str(line), since=mark)
    check_eq(haven.get("/").status, 200, "still serving")
    stats = haven.admin("GET", "/stats.json").json()["haven"]["config"]["reloads"]
    check_eq((stats["succeeded"], stats["failed"]), (0, 2), "reload counters")
    check(f"haven.toml:{line}:" in stats["last_error"], "the error in stats.json")
    metrics = haven.admin("GET", "/metrics").raw.decode()
    check('haven_config_reloads_total{result="failure"} 2' in metrics, "the failures in /metrics")
    check("haven_config_last_reload_successful 0" in metrics, "the last reload flagged in /metrics")
    rewrite(haven, good)
    reload_via_api(haven)
    check("haven_config_last_reload_successful 1" in haven.admin("GET", "/metrics").raw.decode(), "cleared")


@test
def health_and_admin_state_survive_a_reload_and_changed_servers_wait_for_a_check() -> None:
    a = Upstream(name="a")
    dead = Upstream("refuse", name="dead")
    sick_check = Upstream(handler=lambda req, conn: (conn.respond(503 if req.path == "/healthz" else 200,
                                                                  b'{"server": "sick"}'), True)[1], name="sick")
    config = make_config({"static": {"check": fast_check(), "servers": [
        {"name": "a", "address": a}, {"name": "b", "address": dead}]}}, extra=ADMIN)
    haven = Haven(config)
    haven.wait_event(r"server static/b is DOWN")
    check_eq(haven.admin("PATCH", "/api/v1/backends/static/servers/a", {"weight": 7}).status, 200, "weight")
    reload_via_api(haven)
    stats = {s["name"]: s for s in haven.admin("GET", "/stats.json").json()["backends"][0]["servers"]}
    check_eq(stats["b"]["health"]["state"], "DOWN", "b stays DOWN across the reload")
    check_eq(stats["a"]["weight"]["runtime"], 7, "a's runtime weight across the reload")
    # b moves to a server whose check fails: it must never see a request before a check passes.
    moved = config.replace(dead.address, sick_check.address)
    rewrite(haven, moved)
    body = reload_via_api(haven)
    check("servers changed (checked before traffic): static/b" in body["message"], f"reload summary: {body}")
    for _ in range(20):
        check_eq(haven.get("/").json()["server"], "a", "who answers")
    check_eq(sick_check.traffic(), [], "requests at the changed server whose check fails")
    check(len(sick_check.health_checks()) >= 1, "the changed server was checked")
    drained = haven.admin("PATCH", "/api/v1/backends/static/servers/a", {"state": "drain"})
    check_eq(drained.status, 200, "drain")
    reload_via_api(haven)
    check_eq(haven.admin("GET", "/api/v1/backends/static/servers/a").json()["admin"]["state"], "DRAIN",
             "a drain survives a reload")


@test
def a_websocket_stays_open_across_five_reloads() -> None:
    def echo_tunnel(req: Request, conn: UpstreamConn) -> bool:
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        while True:
            data = conn.rfile.read1(65536)
            if not data:
                return False
            conn.send(data)

    up = Upstream(handler=echo_tunnel, name="ws")
    haven = Haven(make_config({"static": [up]}, extra=ADMIN))
    with haven.client() as c:
        c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        check_eq(c.read_response().status, 101, "upgrade")
        for i in range(5):
            reload_via_api(haven)
            message = f"frame {i}".encode()
            c.send(message)
            check_eq(c.read_available(len(message), timeout=5), message, f"echo after reload {i + 1}")


@test
def two_hundred_reloads_leak_no_descriptor_or_memory() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": {"check": fast_check(), "servers": [up]}}, extra=ADMIN))
    for _ in range(20):  # warm up: pools, buffers, first allocations
        reload_via_api(haven)
        haven.get("/")
    wait_until(lambda: haven.get("/").status == 200, 5.0, "serving")
    fds_before = open_fds(haven.pid)
    rss_before = rss_kib(haven.pid)
    for i in range(200):
        reload_via_api(haven)
        if i % 10 == 0:
            haven.get("/")
    # Retired listeners and checks are freed on the next timer ticks.
    wait_until(lambda: open_fds(haven.pid) <= fds_before, 5.0, f"descriptors back to {fds_before}")
    rss_after = rss_kib(haven.pid)
    if haven_is_sanitized():
        note(f"sanitizer build: RSS {rss_before} -> {rss_after} KiB not judged (quarantine); LeakSanitizer judges leaks")
        return
    check(rss_after - rss_before <= 1024, f"RSS grew from {rss_before} KiB to {rss_after} KiB over 200 reloads")


@test
def a_removed_listener_stops_accepting_and_its_connections_end_after_their_request() -> None:
    up = Upstream(name="s1")
    extra = '\n[frontends.second]\nbind = "127.0.0.1:0"\ndefault_backend = "static"\n'
    with_second = make_config({"static": [up]}, extra=ADMIN + extra)
    haven = Haven(with_second)
    port = int([f for f in haven.admin("GET", "/stats.json").json()["frontends"] if f["name"] == "second"][0]
               ["bind"].rsplit(":", 1)[1])
    with haven.client(port=port) as kept:
        check_eq(kept.request("GET", "/").status, 200, "before the reload")
        rewrite(haven, make_config({"static": [up]}, extra=ADMIN))
        reload_via_api(haven)
        wait_until(lambda: connect_refused("127.0.0.1", port), 5.0, "the removed listener closed")
        # The open connection had finished its request; it is closed rather than moved to a
        # frontend that no longer exists.
        try:
            kept.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            closed = kept.wait_closed(5)
        except (ConnectionResetError, BrokenPipeError):
            closed = b""
        check_eq(closed, b"", "the next request on the removed frontend")
    with haven.client(port=haven.ports["web"]) as other:
        check_eq(other.request("GET", "/").status, 200, "the other frontend")


@test
def twenty_reloads_during_a_wrk_run_fail_no_request() -> None:
    """wrk (2 threads, 20 keep-alive connections) through haven while the configuration is reloaded
    20 times, changing routes and adding and removing a listener: no socket error, no non-2xx."""
    if shutil.which("wrk") is None:
        raise AssertionError("wrk is not installed (scripts/install-deps installs it)")
    static = Upstream(name="static")
    api = Upstream(name="api")
    base = {"static": [static], "api": [api]}
    plain = make_config(base, routes=[{"path_prefix": "/api", "backend": "api"}], extra=ADMIN)
    changed = make_config(base, routes=[{"path_prefix": "/other", "backend": "api"}],
                          extra=ADMIN + '\n[frontends.second]\nbind = "127.0.0.1:0"\ndefault_backend = "static"\n')
    haven = Haven(plain)
    wrk = subprocess.Popen(["wrk", "-t2", "-c20", "-d8s", "--timeout", "4s", f"http://127.0.0.1:{haven.port}/api/x"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # wrk's connections are open and busy
        for i in range(20):
            rewrite(haven, changed if i % 2 == 0 else plain)
            reload_via_api(haven)
            time.sleep(0.25)
        out, err = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
    check_eq(wrk.returncode, 0, f"wrk: {err}")
    requests = re.search(r"(\d+) requests in", out)
    check(requests is not None and int(requests.group(1)) > 1000, f"wrk ran: {out}")
    check("Socket errors" not in out, f"socket errors during the reloads:\n{out}")
    check("Non-2xx" not in out, f"non-2xx answers during the reloads:\n{out}")


@test
def what_needs_a_restart_is_said_and_kept_until_one() -> None:
    up = Upstream(name="s1")
    config = make_config({"static": [up]}, extra=ADMIN)
    haven = Haven(config)
    rewrite(haven, config.replace("workers = 1", "workers = 2"))
    first = reload_via_api(haven)["message"]
    check("[global] workers need a restart and stay as they were" in first, f"the first reload: {first}")
    second = reload_via_api(haven)["message"]
    check("[global] workers need a restart" in second, f"a second reload still says so: {second}")
    check_eq(haven.admin("GET", "/stats.json").json()["haven"]["workers"], 1, "workers in force")


if __name__ == "__main__":
    run()
