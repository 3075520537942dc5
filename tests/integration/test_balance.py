"""Load balancing within a backend: weighted round robin, first, and retries past a dead server."""
import collections
import json

from harness import Haven, Upstream, check, check_eq, make_config, run, test, wait_until


def spread(haven: Haven, n: int, prefix: str = "/api/lb") -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for i in range(n):
        resp = haven.get(f"{prefix}/{i}")   # a new client connection per request
        check_eq(resp.status, 200, f"status of request {i}")
        counts[resp.json()["server"]] += 1
    return counts


@test
def roundrobin_equal_weights_alternates() -> None:
    a1, a2 = Upstream(name="a1"), Upstream(name="a2")
    haven = Haven(make_config({"api": {"balance": "roundrobin", "servers": [a1, a2]},
                               "static": [Upstream(name="s1")]}))
    order = [haven.get(f"/api/alt/{i}").json()["server"] for i in range(10)]
    check_eq(collections.Counter(order), collections.Counter({"a1": 5, "a2": 5}), f"split of {order}")
    check(all(order[i] != order[i + 1] for i in range(9)), f"not alternating: {order}")


@test
def roundrobin_weights_1_and_3() -> None:
    a1, a2 = Upstream(name="a1"), Upstream(name="a2")
    haven = Haven(make_config({"api": {"balance": "roundrobin", "servers": [
        {"name": "a1", "address": a1}, {"name": "a2", "address": a2, "weight": 3}]},
        "static": [Upstream(name="s1")]}))
    counts = spread(haven, 100)
    check(abs(counts["a1"] - 25) <= 2 and abs(counts["a2"] - 75) <= 2, f"split {dict(counts)}, want 25/75 +-2")
    check_eq(a1.request_count() + a2.request_count(), 100, "requests at the upstreams")


@test
def roundrobin_weights_on_one_keep_alive_connection() -> None:
    """Balancing is per request, also for requests sharing one client connection."""
    a1, a2 = Upstream(name="a1"), Upstream(name="a2")
    haven = Haven(make_config({"api": {"balance": "roundrobin", "servers": [
        {"name": "a1", "address": a1}, {"name": "a2", "address": a2, "weight": 3}]},
        "static": [Upstream(name="s1")]}))
    counts: collections.Counter = collections.Counter()
    with haven.client() as c:
        for i in range(40):
            counts[c.request("GET", f"/api/ka/{i}").json()["server"]] += 1
    check(abs(counts["a1"] - 10) <= 2 and abs(counts["a2"] - 30) <= 2, f"split {dict(counts)}, want 10/30 +-2")


@test
def balance_first_sends_everything_to_first_server() -> None:
    a1, a2, a3 = Upstream(name="a1"), Upstream(name="a2"), Upstream(name="a3")
    haven = Haven(make_config({"api": {"balance": "first", "servers": [a1, a2, a3]},
                               "static": [Upstream(name="s1")]}))
    counts = spread(haven, 30)
    check_eq(dict(counts), {"a1": 30}, "split")


@test
def leastconn_spreads_sequential_requests() -> None:
    a1, a2 = Upstream(name="a1"), Upstream(name="a2")
    haven = Haven(make_config({"api": {"balance": "leastconn", "servers": [a1, a2]},
                               "static": [Upstream(name="s1")]}))
    counts = spread(haven, 20)
    check_eq(sum(counts.values()), 20, "answers")
    check(set(counts) <= {"a1", "a2"}, f"servers {dict(counts)}")


@test
def leastconn_avoids_the_busy_server() -> None:
    def handler(req, conn) -> bool:
        if "slow" in req.path:
            conn.wait_stop(1.5)
        conn.respond(200, json.dumps({"server": conn.upstream.name}).encode())
        return True

    a1, a2 = Upstream(handler=handler, name="a1"), Upstream(handler=handler, name="a2")
    haven = Haven(make_config({"api": {"balance": "leastconn", "servers": [a1, a2]},
                               "static": [Upstream(name="s1")]}))
    with haven.client(timeout=10) as busy:
        busy.send(busy.build_request("GET", "/api/slow"))
        wait_until(lambda: a1.request_count() + a2.request_count() == 1, 5, "the slow request upstream")
        busy_server = "a1" if a1.request_count() else "a2"
        counts = spread(haven, 10, "/api/fast")
        check_eq(dict(counts), {("a2" if busy_server == "a1" else "a1"): 10},
                 f"split while {busy_server} is busy")
        check_eq(busy.read_response().status, 200, "slow request status")


@test
def connect_failure_retried_on_another_server() -> None:
    dead = Upstream("refuse", name="a1")
    alive = Upstream(name="a2")
    haven = Haven(make_config({"api": {"balance": "roundrobin", "retries": 2, "servers": [dead, alive]},
                               "static": [Upstream(name="s1")]}))
    counts = spread(haven, 20)
    check_eq(dict(counts), {"a2": 20}, "answers (a client never sees an error another server could answer)")


@test
def weight_zero_takes_no_requests() -> None:
    a1, a2 = Upstream(name="a1"), Upstream(name="a2")
    haven = Haven(make_config({"api": {"servers": [
        {"name": "a1", "address": a1, "weight": 0}, {"name": "a2", "address": a2}]},
        "static": [Upstream(name="s1")]}))
    counts = spread(haven, 10)
    check_eq(dict(counts), {"a2": 10}, "split")


@test
def backup_unused_while_main_serves() -> None:
    a1, b1 = Upstream(name="a1"), Upstream(name="b1")
    haven = Haven(make_config({"api": {"servers": [
        {"name": "a1", "address": a1}, {"name": "b1", "address": b1, "backup": True}]},
        "static": [Upstream(name="s1")]}))
    counts = spread(haven, 10)
    check_eq(dict(counts), {"a1": 10}, "split")


@test
def backup_answers_when_main_refuses() -> None:
    a1, b1 = Upstream("refuse", name="a1"), Upstream(name="b1")
    haven = Haven(make_config({"api": {"retries": 2, "servers": [
        {"name": "a1", "address": a1}, {"name": "b1", "address": b1, "backup": True}]},
        "static": [Upstream(name="s1")]}))
    counts = spread(haven, 10)
    check_eq(dict(counts), {"b1": 10}, "answers")


if __name__ == "__main__":
    run()
