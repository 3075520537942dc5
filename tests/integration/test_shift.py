"""Traffic shifts between server groups (POST /api/v1/backends/{b}/shift and `haven ctl shift`):
a shift on healthy servers completes on schedule, the share of each step is what the new group
gets, a shift onto a group that answers 5% errors rolls back within one hold period (the event
naming the measured value next to its threshold), a shift with no traffic holds, and pause,
resume, abort and a reload in the middle."""
import os
import subprocess
import threading
import time

from harness import (Haven, Upstream, check, check_eq, haven_path, make_config, note, run, test, wait_until)

ADMIN = '[admin]\nbind = "127.0.0.1:0"\n'


class Group:
    """Servers that answer 200 with their name, or 500 for every `error_every`-th request."""

    def __init__(self, names: list[str], error_every: int = 0):
        self.error_every = error_every
        self.lock = threading.Lock()
        self.count = 0
        self.hits: dict[str, int] = {n: 0 for n in names}
        self.upstreams = {n: Upstream(handler=self._handler(n), name=n) for n in names}

    def _handler(self, name: str):
        def handle(req, conn) -> bool:
            if req.headers.get("user-agent") == "haven-check":
                conn.respond(200, b"ok")
                return True
            with self.lock:
                self.count += 1
                self.hits[name] += 1
                fail = self.error_every and self.count % self.error_every == 0
            conn.respond(500 if fail else 200, name.encode())
            return True
        return handle

    def total(self) -> int:
        with self.lock:
            return sum(self.hits.values())


def shift_config(prod1: Group, prod2: Group) -> str:
    servers = [{"name": n, "address": u, "group": "prod1"} for n, u in prod1.upstreams.items()]
    servers += [{"name": n, "address": u, "group": "prod2"} for n, u in prod2.upstreams.items()]
    return make_config({"app": {"servers": servers, "retries": 0}}, extra=ADMIN)


class Load:
    """GETs at about `rate` per second on a keep-alive connection, until stopped."""

    def __init__(self, haven: Haven, rate: float = 150):
        self.haven = haven
        self.rate = rate
        self.stop_event = threading.Event()
        self.statuses: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        client = self.haven.client()
        try:
            while not self.stop_event.is_set():
                resp = client.request("GET", "/x")
                self.statuses.append(resp.status)
                time.sleep(1 / self.rate)
        finally:
            client.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


def start(haven: Haven, **plan) -> dict:
    body = {"from": "prod1", "to": "prod2"}
    body.update(plan)
    answer = haven.admin("POST", "/api/v1/backends/app/shift", body)
    check_eq(answer.status, 201, f"start: {answer.raw[:300]!r}")
    return answer.json()


def shift_state(haven: Haven) -> dict:
    return haven.admin("GET", "/api/v1/backends/app/shift").json()


def ctl(haven: Haven, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    env.pop("HAVEN_ADMIN_TOKEN", None)
    return subprocess.run([haven_path(), "ctl", "--admin", f"http://127.0.0.1:{haven.admin_port()}", *args],
                          capture_output=True, text=True, timeout=30, env=env)


@test
def a_shift_on_healthy_servers_completes_on_schedule() -> None:
    prod1, prod2 = Group(["p1a", "p1b"]), Group(["p2a", "p2b"])
    haven = Haven(shift_config(prod1, prod2))
    load = Load(haven)
    try:
        started = time.monotonic()
        shift = start(haven, steps="10,50,100", hold="1s", min_requests=5)
        check_eq((shift["state"], shift["share"]), ("running", 10), "at the start")
        wait_until(lambda: shift_state(haven)["state"] == "completed", 10, "the shift to complete")
        took = time.monotonic() - started
        note(f"three windows of 1 s took {took:.2f} s")
        check(2.9 <= took < 6, f"completed after {took:.2f} s (3 holds of 1 s)")
        final = shift_state(haven)
        check_eq([w["verdict"] for w in final["windows"]], ["pass", "pass", "pass"], "verdicts")
        check_eq([w["share"] for w in final["windows"]], [10, 50, 100], "shares judged")
        haven.wait_event(r"shift of backend app from prod1 to prod2 completed: all traffic on prod2")
        before = prod1.total()
        time.sleep(0.5)
        check_eq(prod1.total(), before, "no request to prod1 once completed")
    finally:
        load.stop()
    check(all(s == 200 for s in load.statuses), "every request answered")
    stats = haven.admin("GET", "/stats.json").json()
    app = next(b for b in stats["backends"] if b["name"] == "app")
    check_eq((app["groups"], app["shift"]["state"]), (["prod1", "prod2"], "completed"), "stats.json")


@test
def each_step_gives_the_new_group_its_share() -> None:
    prod1, prod2 = Group(["p1a", "p1b", "p1c"]), Group(["p2a"])
    haven = Haven(shift_config(prod1, prod2))
    start(haven, steps="20,100", hold="1h")
    with haven.client() as c:
        for _ in range(500):
            check_eq(c.request("GET", "/x").status, 200, "answer")
    check_eq((prod1.total(), prod2.total()), (400, 100), "requests by group at 20%")
    metrics = haven.admin("GET", "/metrics").raw.decode()
    check('haven_shift_share_percent{backend="app",from="prod1",to="prod2"} 20' in metrics, "share metric")
    check('haven_shift_state{backend="app",state="running"} 1' in metrics, "state metric")


@test
def a_group_answering_5_percent_errors_is_rolled_back_within_one_hold() -> None:
    prod1, prod2 = Group(["p1a"]), Group(["p2a"], error_every=20)
    haven = Haven(shift_config(prod1, prod2))
    load = Load(haven, rate=200)
    try:
        # From 50%: enough requests reach prod2 within one hold of 2 s.
        started = time.monotonic()
        start(haven, steps="50,100", hold="2s", min_requests=50, max_error_rate="1%")
        wait_until(lambda: shift_state(haven)["state"] == "rolled_back", 8, "the rollback")
        took = time.monotonic() - started
        check(took < 2 + 1.5, f"rolled back {took:.2f} s after the start (one hold of 2 s)")
        event = haven.wait_event(r"shift of backend app from prod1 to prod2 rolled back at 50%: "
                                 r"error rate of prod2 (\S+) > 1% \((\d+) of (\d+) requests\); all traffic back on prod1")
        note(f"rolled back after {took:.2f} s: {event.group(0)}")
        rate = float(event.group(1).rstrip("%"))
        check(3 <= rate <= 7, f"the measured rate {rate}%")
        before = prod2.total()
        time.sleep(0.5)
        check_eq(prod2.total(), before, "no request to prod2 after the rollback")
    finally:
        load.stop()


@test
def servers_outside_the_groups_keep_their_part_and_a_dead_group_gives_its_share_away() -> None:
    prod1, prod2, other = Group(["p1a"]), Group(["p2a"]), Group(["solo"])
    servers = [{"name": "p1a", "address": prod1.upstreams["p1a"], "group": "prod1"},
               {"name": "p2a", "address": prod2.upstreams["p2a"], "group": "prod2"},
               {"name": "solo", "address": other.upstreams["solo"]}]
    check_cfg = {"path": "/healthz", "interval": "200ms", "timeout": "150ms", "rise": 1, "fall": 1}
    haven = Haven(make_config({"app": {"servers": servers, "retries": 1, "check": check_cfg}}, extra=ADMIN))
    start(haven, steps="50,100", hold="1h")
    with haven.client() as c:
        for _ in range(300):
            c.request("GET", "/x")
    check_eq((prod1.total(), prod2.total(), other.total()), (100, 100, 100),
             "the groups keep their two thirds, shared 50/50; the other server its third")
    # prod2 dies: its share goes to prod1 instead of leaving the groups' part without a server.
    mark = haven.event_mark()
    prod2.upstreams["p2a"].kill()
    haven.wait_event(r"server app/p2a is DOWN", since=mark)
    time.sleep(0.6)  # the shift's weights follow within a tick (250 ms)
    before = (prod1.total(), other.total())
    with haven.client() as c:
        for _ in range(300):
            check_eq(c.request("GET", "/x").status, 200, "answered")
    check_eq((prod1.total() - before[0], other.total() - before[1]), (200, 100), "prod1 takes prod2's share")


@test
def a_finished_shift_keeps_its_weights_until_cleared() -> None:
    prod1, prod2 = Group(["p1a"]), Group(["p2a"])
    haven = Haven(shift_config(prod1, prod2))
    start(haven, steps="100", hold="1s", min_requests=1)
    with haven.client() as c:
        for _ in range(20):
            c.request("GET", "/x")
    wait_until(lambda: shift_state(haven)["state"] == "completed", 5, "completion")
    before = prod1.total()
    with haven.client() as c:
        for _ in range(20):
            c.request("GET", "/x")
    check_eq(prod1.total(), before, "all on prod2 once completed")
    check_eq(haven.admin("POST", "/api/v1/backends/app/shift/clear").status, 200, "clear")
    check_eq(haven.admin("GET", "/api/v1/backends/app/shift").status, 404, "no shift after clear")
    with haven.client() as c:
        for _ in range(20):
            c.request("GET", "/x")
    check_eq(prod1.total() - before, 10, "configured weights again (1:1)")
    # A running shift cannot be cleared, only aborted.
    start(haven, steps="50,100", hold="1h")
    check_eq(haven.admin("POST", "/api/v1/backends/app/shift/clear").status, 409, "clear while running")


@test
def a_shift_with_no_traffic_holds_and_says_why() -> None:
    prod1, prod2 = Group(["p1a"]), Group(["p2a"])
    haven = Haven(shift_config(prod1, prod2))
    start(haven, steps="10,100", hold="1s", min_requests=100)
    haven.wait_event(r"shift of backend app from prod1 to prod2 holds: only 0 requests to prod2 in the window "
                     r"\(need 100\): holding at 10%", timeout=5)
    state = shift_state(haven)
    check_eq((state["state"], state["share"], state["step"]), ("running", 10, 0), "still at the first step")
    check(all(w["verdict"] == "hold" for w in state["windows"]), f"windows {state['windows']}")


@test
def ctl_starts_pauses_resumes_and_aborts_and_a_reload_keeps_the_shift() -> None:
    prod1, prod2 = Group(["p1a"]), Group(["p2a"])
    haven = Haven(shift_config(prod1, prod2))
    started = ctl(haven, "shift", "app", "--from", "prod1", "--to", "prod2", "--steps", "25,100", "--hold", "1h",
                  "--max-error-rate", "2%", "--min-requests", "10")
    check_eq(started.returncode, 0, f"ctl shift: {started.stderr}")
    check("app: shift prod1 -> prod2 running, 25% on prod2 (step 1 of 2)" in started.stdout, started.stdout)
    again = ctl(haven, "shift", "app", "--from", "prod1", "--to", "prod2")
    check_eq(again.returncode, 1, "a second shift is refused")
    check("already has a shift" in again.stderr, again.stderr)
    check_eq(ctl(haven, "shift", "app", "pause").returncode, 0, "pause")
    check_eq(shift_state(haven)["state"], "paused", "paused")
    # A reload in the middle: the shift and its weights stay.
    check_eq(haven.admin("POST", "/api/v1/reload").status, 200, "reload")
    check_eq((shift_state(haven)["state"], shift_state(haven)["share"]), ("paused", 25), "after the reload")
    with haven.client() as c:
        for _ in range(100):
            c.request("GET", "/x")
    check_eq((prod1.total(), prod2.total()), (75, 25), "weights after the reload")
    check_eq(ctl(haven, "shift", "app", "resume").returncode, 0, "resume")
    aborted = ctl(haven, "shift", "app", "abort")
    check_eq(aborted.returncode, 0, "abort")
    check("aborted, 0% on prod2" in aborted.stdout, aborted.stdout)
    haven.wait_event(r"shift of backend app from prod1 to prod2 aborted \(all traffic back on prod1\)")
    before = prod2.total()
    with haven.client() as c:
        for _ in range(20):
            c.request("GET", "/x")
    check_eq(prod2.total(), before, "no request to prod2 after the abort")
    status = ctl(haven, "shift", "app", "status")
    check("aborted" in status.stdout, status.stdout)
    check_eq(ctl(haven, "shift", "app", "--from", "prod1", "--to", "nowhere").returncode, 1, "unknown group")


if __name__ == "__main__":
    run()
