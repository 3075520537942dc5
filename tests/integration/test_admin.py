"""The admin listener over real HTTP: stats.json, /metrics, the runtime API (drain, maint, ready,
weights), and who may use it (token, Origin, Host)."""
import collections
import http.client
import os
import re
import socket
import subprocess
import tempfile
import threading

from harness import (Haven, Upstream, check, check_eq, fast_check, haven_path, make_config, parse_prometheus,
                     run, run_haven, test, wait_until)

ADMIN = '[admin]\nbind = "127.0.0.1:0"\n'
TOKEN = "test-token-0123456789"


def admin_with_token(read_token_required: bool = False) -> str:
    text = f'[admin]\nbind = "127.0.0.1:0"\ntoken = "{TOKEN}"\n'
    if read_token_required:
        text += "read_token_required = true\n"
    return text


def served_by(haven: Haven, path: str = "/") -> str:
    resp = haven.get(path)
    check_eq(resp.status, 200, f"status of {path}")
    return resp.json()["server"]


def server_stats(haven: Haven, backend: str, server: str) -> dict:
    answer = haven.admin("GET", f"/api/v1/backends/{backend}/servers/{server}")
    check_eq(answer.status, 200, "status of the server's stats")
    return answer.json()


def set_server(haven: Haven, backend: str, server: str, body: dict, headers: dict | None = None) -> dict:
    answer = haven.admin("PATCH", f"/api/v1/backends/{backend}/servers/{server}", body, headers)
    check_eq(answer.status, 200, f"PATCH {body}: {answer.raw[:200]!r}")
    return answer.json()


# ---------------------------------------------------------------------------------------------
# What haven sees
# ---------------------------------------------------------------------------------------------

@test
def stats_json_shows_states_checks_and_counters() -> None:
    main = Upstream(name="main")
    dead = Upstream("refuse", name="dead")
    backup = Upstream(name="spare")
    haven = Haven(make_config({"static": {"check": fast_check(), "servers": [
        {"name": "main", "address": main}, {"name": "dead", "address": dead},
        {"name": "spare", "address": backup, "backup": True}]}}, extra=ADMIN))
    haven.wait_event(r"server static/dead is DOWN")
    for _ in range(3):
        check_eq(served_by(haven), "main", "who answers")
    stats = wait_until(lambda: (lambda s: s if s["backends"][0]["requests"] >= 3 else None)(
        haven.admin("GET", "/stats.json").json()), 5.0, "three requests counted")
    check_eq(stats["haven"]["pid"], haven.pid, "pid")
    frontend = stats["frontends"][0]
    check_eq(frontend["name"], "web", "frontend name")
    check_eq(frontend["bind"], f"127.0.0.1:{haven.port}", "frontend bind as bound")
    check_eq(frontend["requests"], 3, "frontend requests")
    check_eq(frontend["responses"]["2xx"], 3, "frontend 2xx")
    check_eq(frontend["outcomes"]["ok"], 3, "frontend outcome ok")
    check(frontend["connections"]["accepted"] >= 3, "connections accepted")
    backend = stats["backends"][0]
    check_eq(backend["mode"], "primary", "backend mode")
    check_eq(backend["servers_usable"], {"main": 1, "backup": 1}, "servers that could take requests")
    servers = {s["name"]: s for s in backend["servers"]}
    check_eq(servers["main"]["health"]["state"], "UP", "main health")
    check_eq(servers["main"]["serving"], True, "main serving")
    check_eq(servers["main"]["requests"], 3, "main requests")
    check(servers["main"]["bytes_out"] > 0, "bytes out counted")
    check_eq(servers["main"]["last_check"]["status"], 200, "main's last check status")
    check_eq(servers["dead"]["health"]["state"], "DOWN", "dead health")
    check_eq(servers["dead"]["last_check"]["ok"], False, "dead's last check")
    check_eq(servers["dead"]["serving"], False, "dead serving")
    check_eq(servers["spare"]["tier"], "backup", "spare tier")
    check_eq(servers["spare"]["serving"], False, "a backup waits while a main serves")
    check_eq(servers["spare"]["weight"], {"configured": 1, "runtime": None, "shift": None, "effective": 1}, "weights")


@test
def metrics_pass_a_strict_exposition_parser() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": {"check": fast_check(), "servers": [up]}}, extra=ADMIN))
    for _ in range(5):
        haven.get("/")
    answer = wait_until(lambda: (lambda a: a if b'haven_frontend_http_responses_total{frontend="web",code_class="2xx"} 5'
                                 in a.raw else None)(haven.admin("GET", "/metrics")), 5.0, "five 2xx in /metrics")
    check(answer.headers["content-type"].startswith("text/plain; version=0.0.4"), "exposition content type")
    samples = parse_prometheus(answer.raw.decode())
    types = samples["__types__"]
    for name, kind in [("haven_server_status", "gauge"), ("haven_http_responses_total", "counter"),
                       ("haven_http_response_duration_seconds", "histogram"),
                       ("haven_server_check_duration_seconds", "gauge"),
                       ("haven_server_check_up_down_total", "counter"), ("haven_server_last_change_seconds", "gauge"),
                       ("haven_backend_active_servers", "gauge"), ("haven_backend_backup_servers", "gauge"),
                       ("haven_maintenance_responses_total", "counter"), ("haven_retries_total", "counter"),
                       ("haven_config_reloads_total", "counter"),
                       ("haven_config_last_reload_success_timestamp_seconds", "gauge")]:
        check_eq(types.get(name), kind, f"type of {name}")
    server = (("backend", "static"), ("server", "s1"))
    check_eq(samples[("haven_server_status", server + (("state", "UP"),))], 1.0, "UP series")
    check_eq(samples[("haven_server_status", server + (("state", "DOWN"),))], 0.0, "DOWN series")
    check_eq(samples[("haven_http_responses_total", server + (("code_class", "2xx"),))], 5.0, "2xx of s1")
    check_eq(samples[("haven_http_response_duration_seconds_count", server)], 5.0, "histogram count")
    check_eq(samples[("haven_backend_active_servers", (("backend", "static"),))], 1.0, "active servers")
    # Bounded label sets: nothing per path or per client.
    for key in samples:
        if key == "__types__":
            continue
        for label, _ in key[1]:
            check(label in ("frontend", "backend", "server", "state", "code_class", "le", "mode", "outcome",
                            "result"), f"unexpected label {label} on {key[0]}")


# ---------------------------------------------------------------------------------------------
# Runtime changes
# ---------------------------------------------------------------------------------------------

@test
def drain_finishes_what_is_in_flight_sends_nothing_new_and_keeps_checking() -> None:
    release = threading.Event()

    def slow(req, conn) -> bool:
        if req.path == "/slow":
            release.wait(10)
        conn.respond(200, b'{"server": "a"}', [("Content-Type", "application/json")])
        return True

    a = Upstream(handler=slow, name="a")
    b = Upstream(name="b")
    haven = Haven(make_config({"static": {"check": fast_check(), "balance": "first", "servers": [
        {"name": "a", "address": a}, {"name": "b", "address": b}]}}, extra=ADMIN))
    check_eq(served_by(haven), "a", "first server before the drain")
    with haven.client() as keep_alive:
        in_flight = threading.Thread(target=lambda: setattr(in_flight, "resp", keep_alive.request("GET", "/slow")))
        in_flight.start()
        wait_until(lambda: any(r.path == "/slow" for r in a.traffic()), 5.0, "the slow request at a")
        mark = haven.event_mark()
        answer = set_server(haven, "static", "a", {"state": "drain"})
        check_eq(answer["admin"]["state"], "DRAIN", "admin state in the answer")
        haven.wait_event(r"server static/a set to DRAIN by admin API \(was READY\)", since=mark)
        for _ in range(5):
            check_eq(served_by(haven), "b", "who answers during the drain")
        release.set()
        in_flight.join(10)
        check_eq(in_flight.resp.status, 200, "the request in flight at the drain")
        # The client's keep-alive connection goes on, to the other server.
        check_eq(keep_alive.request("GET", "/").json()["server"], "b", "the same client connection after")
    checks_before = len(a.health_checks())
    wait_until(lambda: len(a.health_checks()) >= checks_before + 2, 5.0, "checks of the drained server go on")
    check_eq(server_stats(haven, "static", "a")["serving"], False, "a drained server is not serving")
    set_server(haven, "static", "a", {"state": "ready"})
    check_eq(served_by(haven), "a", "after ready")


@test
def maint_stops_traffic_and_checks_and_ready_needs_a_passing_check() -> None:
    a = Upstream(name="a")
    b = Upstream(name="b")
    haven = Haven(make_config({"static": {"check": fast_check(), "balance": "first", "servers": [
        {"name": "a", "address": a}, {"name": "b", "address": b}]}}, extra=ADMIN))
    check_eq(served_by(haven), "a", "before")
    wait_until(lambda: len(a.health_checks()) >= 1, 5.0, "a first check of a")
    set_server(haven, "static", "a", {"state": "maint"})
    # A probe that had already started may still land; after that, none.
    checks = len(a.health_checks())
    for _ in range(5):
        check_eq(served_by(haven), "b", "during maintenance")
    b_checks = len(b.health_checks())
    wait_until(lambda: len(b.health_checks()) >= b_checks + 3, 5.0, "three more checks of b")
    check(len(a.health_checks()) <= checks + 1, f"a was checked during maintenance: {len(a.health_checks()) - checks}")
    mark = haven.event_mark()
    answer = set_server(haven, "static", "a", {"state": "ready"})
    check_eq(answer["health"]["state"], "CHECKING", "health right after leaving maintenance")
    haven.wait_event(r"server static/a is UP \(check: ", since=mark)
    check_eq(served_by(haven), "a", "after a passing check")


@test
def runtime_weights_split_traffic_smoothly() -> None:
    a = Upstream(name="a")
    b = Upstream(name="b")
    haven = Haven(make_config({"static": [{"name": "a", "address": a}, {"name": "b", "address": b}]}, extra=ADMIN))
    set_server(haven, "static", "a", {"weight": 90})
    answer = set_server(haven, "static", "b", {"weight": 10})
    check_eq(answer["weight"], {"configured": 1, "runtime": 10, "shift": None, "effective": 10}, "weights of b")
    counts = collections.Counter()
    order = []
    with haven.client() as c:
        for _ in range(1000):
            server = c.request("GET", "/").json()["server"]
            counts[server] += 1
            order.append(server)
    check(abs(counts["a"] - 900) <= 20 and abs(counts["b"] - 100) <= 20, f"90/10 split: {dict(counts)}")
    # Smooth: b's turns are spread out, never in a burst.
    check("bb" not in "".join("b" if s == "b" else "a" for s in order), "two b answers in a row")
    set_server(haven, "static", "b", {"weight": None})
    check_eq(server_stats(haven, "static", "b")["weight"]["effective"], 1, "back to the configured weight")
    zero = set_server(haven, "static", "a", {"weight": 0})
    check_eq(zero["serving"], False, "weight 0 takes no new requests")
    check_eq(served_by(haven), "b", "with a at weight 0")


@test
def bad_writes_get_json_errors_and_change_nothing() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, extra=ADMIN))
    path = "/api/v1/backends/static/servers/s1"
    for body, fragment in [({"state": "sleep"}, "must be"), ({"weight": 300}, "0 to 256"), ({"weight": "5"}, "0 to 256"),
                           ({"colour": "red"}, "unknown member"), ({}, "nothing to change"),
                           (b"{\"state\": \"drain\"", "invalid JSON"), (b"[1]", "invalid JSON")]:
        answer = haven.admin("PATCH", path, body)
        check_eq(answer.status, 400, f"status for {body!r}")
        check(fragment in answer.json()["error"], f"error for {body!r}: {answer.json()}")
    check_eq(server_stats(haven, "static", "s1")["admin"]["state"], "READY", "nothing changed")
    check_eq(haven.admin("PATCH", "/api/v1/backends/static/servers/nope", {"state": "drain"}).status, 404, "unknown server")
    check_eq(haven.admin("GET", "/api/v1/backends/nope").status, 404, "unknown backend")
    check_eq(haven.admin("GET", "/nothing-here").json()["status"], 404, "unknown path")
    refused = haven.admin("DELETE", path)
    check_eq(refused.status, 405, "DELETE")
    check_eq(refused.headers.get("allow"), "GET, HEAD, PATCH", "Allow")
    check_eq(haven.admin("POST", "/stats.json").status, 405, "POST to a read-only path")
    page = haven.admin("GET", "/")
    check_eq(page.status, 200, "the stats page")
    check(page.headers["content-type"].startswith("text/html"), "the page is HTML")
    check(b"/stats.json" in page.raw and b"<script" in page.raw, "the page reads stats.json")
    check(b"http://" not in page.raw.replace(b"http://www.w3.org/2000/svg", b""), "the page loads nothing from elsewhere")
    listing = haven.admin("GET", "/api/v1/backends").json()
    check_eq([b["name"] for b in listing["backends"]], ["static"], "backends listed")
    check_eq([s["name"] for s in haven.admin("GET", "/api/v1/backends/static/servers").json()["servers"]], ["s1"],
             "servers listed")


@test
def admin_state_and_weights_survive_a_restart_through_the_state_file() -> None:
    a = Upstream(name="a")
    b = Upstream(name="b")
    with tempfile.TemporaryDirectory() as tmp:
        state_file = os.path.join(tmp, "admin.state")
        config = make_config({"static": [{"name": "a", "address": a}, {"name": "b", "address": b}]},
                             extra=ADMIN + f'state_file = "{state_file}"\n')
        first = Haven(config)
        set_server(first, "static", "a", {"state": "drain"})
        set_server(first, "static", "b", {"weight": 5})
        check_eq(first.stop(), 0, "exit status")
        with open(state_file) as f:
            lines = [line for line in f.read().splitlines() if not line.startswith("#")]
        check_eq(lines, ["static/a drain -", "static/b ready 5"], "the saved state")
        with open(state_file, "a") as f:
            f.write("static/gone maint -\nstatic/b sleepy 5\n")
        second = Haven(config)
        check_eq(server_stats(second, "static", "a")["admin"]["state"], "DRAIN", "a after the restart")
        check_eq(server_stats(second, "static", "b")["weight"]["runtime"], 5, "b's weight after the restart")
        second.wait_event(r"no server static/gone in the configuration")
        second.wait_event(r"STATE must be ready, drain or maint")
        check_eq(served_by(second), "b", "the drained server gets nothing")


# ---------------------------------------------------------------------------------------------
# Who may use it
# ---------------------------------------------------------------------------------------------

@test
def writes_need_the_token_and_reads_need_it_only_when_asked() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, extra=admin_with_token()))
    path = "/api/v1/backends/static/servers/s1"
    check_eq(haven.admin("PATCH", path, {"state": "drain"}).status, 401, "no token")
    check_eq(haven.admin("PATCH", path, {"state": "drain"}, {"Authorization": "Bearer wrong-token-0123456"}).status,
             401, "wrong token")
    check_eq(haven.admin("GET", "/stats.json").status, 200, "a read without the token")
    set_server(haven, "static", "s1", {"state": "drain"}, {"Authorization": f"Bearer {TOKEN}"})
    haven.wait_event(r"server static/s1 set to DRAIN by admin API")

    strict = Haven(make_config({"static": [up]}, extra=admin_with_token(read_token_required=True)))
    check_eq(strict.admin("GET", "/stats.json").status, 401, "a read without the token")
    check_eq(strict.admin("GET", "/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status, 200,
             "a read with the token")


@test
def other_origins_and_rebound_names_are_refused() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, extra=ADMIN))
    path = "/api/v1/backends/static/servers/s1"
    port = haven.admin_port()
    foreign = haven.admin("PATCH", path, {"state": "maint"}, {"Origin": "http://evil.example"})
    check_eq(foreign.status, 403, "a write from another origin")
    check_eq(haven.admin("GET", "/stats.json", headers={"Sec-Fetch-Site": "cross-site"}).status, 403, "cross-site read")
    check_eq(haven.admin("GET", "/stats.json", headers={"Host": f"evil.example:{port}"}).status, 403,
             "a name that resolves to 127.0.0.1 (DNS rebinding)")
    check_eq(server_stats(haven, "static", "s1")["admin"]["state"], "READY", "nothing changed")
    own = haven.admin("PATCH", path, {"state": "drain"}, {"Origin": f"http://127.0.0.1:{port}"})
    check_eq(own.status, 200, "a write from the admin's own page")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=5)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.unix_path)


@test
def the_admin_listener_on_a_unix_socket() -> None:
    up = Upstream(name="s1")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "admin.sock")
        # A socket file left behind by a haven that died is replaced.
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()
        haven = Haven(make_config({"static": [up]}, extra=f'[admin]\nbind = "unix:{path}"\n'))
        haven.wait_event(r"admin listening on unix:" + re.escape(path))
        check_eq(oct(os.stat(path).st_mode & 0o777), oct(0o660), "socket permissions")
        conn = UnixHTTPConnection(path)
        conn.request("PATCH", "/api/v1/backends/static/servers/s1", body=b'{"state":"drain"}')
        answer = conn.getresponse()
        check_eq(answer.status, 200, f"a change over the socket: {answer.read()[:200]!r}")
        conn.close()
        result = subprocess.run([haven_path(), "ctl", "--admin", f"unix:{path}", "servers"], capture_output=True,
                                text=True, timeout=30)
        check_eq(result.stdout.strip(), "static/s1 UP DRAIN 1", f"haven ctl over the socket: {result.stderr}")
        check_eq(haven.stop(), 0, "exit status")
        check(not os.path.exists(path), "the socket file is removed at exit")
        with open(path, "w") as f:
            f.write("not a socket")
        blocked = Haven(make_config({"static": [up]}, extra=f'[admin]\nbind = "unix:{path}"\n'), wait_ready=False)
        check_eq(blocked.wait(10), 1, "exit status with a regular file in the way")
        check("a file that is not a socket is in the way" in blocked.events(), f"why: {blocked.events()[-300:]}")


@test
def an_admin_port_in_use_stops_start_up_cleanly() -> None:
    up = Upstream(name="s1")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        haven = Haven(make_config({"static": [up]}, extra=f'[admin]\nbind = "127.0.0.1:{port}"\n'), wait_ready=False)
        check_eq(haven.wait(10), 1, "exit status")
        check(f"admin listener cannot bind 127.0.0.1:{port}" in haven.events(), f"the reason: {haven.events()[-500:]}")
    finally:
        taken.close()


@test
def idle_admin_connections_cannot_lock_an_operator_out() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, extra=ADMIN))
    port = haven.admin_port()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
    try:
        answer = haven.admin("GET", "/stats.json", timeout=5)
        check_eq(answer.status, 200, "the operator's request with 80 idle connections open")
    finally:
        for s in idle:
            s.close()


@test
def a_public_admin_bind_without_a_token_refuses_to_start() -> None:
    up = Upstream(name="s1")
    config = make_config({"static": [up]}, extra='[admin]\nbind = "0.0.0.0:0"\n')
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "haven.toml")
        with open(path, "w") as f:
            f.write(config)
        result = run_haven(["-c", path])
        check_eq(result.returncode, 1, "exit status")
        line = config.splitlines().index('bind = "0.0.0.0:0"') + 1
        check(f"haven.toml:{line}:8:" in result.stderr and "needs a \"token\"" in result.stderr,
              f"the refusal: {result.stderr!r}")


if __name__ == "__main__":
    run()
