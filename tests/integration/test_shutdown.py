"""Graceful shutdown on SIGTERM: in-flight requests finish, the listener closes at once, idle
connections do not hold the exit back, and timeouts.shutdown bounds the wait."""
import signal
import time

from harness import (Haven, Upstream, check, check_eq, connect_refused, make_config, run, test,
                     wait_until)


@test
def sigterm_lets_in_flight_request_finish() -> None:
    up = Upstream("slow", name="s1", delay=2.0)
    haven = Haven(make_config({"static": [up]}))
    with haven.client(timeout=10) as c:
        c.send(c.build_request("GET", "/in-flight"))
        up.wait_requests(1, timeout=5)
        sent_term = time.monotonic()
        haven.terminate()
        # The listener closes promptly: new connections are refused while the request is in flight.
        wait_until(lambda: connect_refused(haven.host, haven.port), 1.5,
                   "new connections to be refused after SIGTERM")
        check(haven.running(), "haven exited before the in-flight request was answered")
        resp = c.read_response()
        check_eq(resp.status, 200, "status of the in-flight request")
        check_eq(resp.json()["target"], "/in-flight", "body of the in-flight request")
        # After the last response on it the connection is closed, not kept alive.
        c.wait_closed(3)
    rc = haven.wait(5)
    check(rc is not None, "haven still running 5 s after its last request finished")
    check_eq(rc, 0, "exit code after SIGTERM")
    check(time.monotonic() - sent_term < 6.5, "shutdown took too long")


@test
def sigterm_with_idle_keep_alive_connections_exits_quickly() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, timeouts={"keep_alive": "60s", "shutdown": "10s"}))
    clients = [haven.client() for _ in range(3)]
    for i, c in enumerate(clients):
        check_eq(c.request("GET", f"/idle/{i}").status, 200, "status")
    start = time.monotonic()
    haven.terminate()
    rc = haven.wait(5)
    check(rc is not None, "haven waited more than 5 s for idle keep-alive connections")
    check_eq(rc, 0, "exit code")
    check(time.monotonic() - start < 5, "exit time")
    for c in clients:
        c.wait_closed(2)


@test
def shutdown_timeout_bounds_a_hanging_request() -> None:
    up = Upstream("hang", name="s1")
    haven = Haven(make_config({"static": [up]}, timeouts={"shutdown": "1s", "server": "60s"}))
    with haven.client(timeout=10) as c:
        c.send(c.build_request("GET", "/forever"))
        wait_until(lambda: up.connections >= 1, 5, "haven to connect upstream")
        start = time.monotonic()
        haven.terminate()
        rc = haven.wait(5)
        elapsed = time.monotonic() - start
        check(rc is not None, "haven still running 5 s after SIGTERM with shutdown = 1s")
        check(elapsed >= 0.5, f"haven exited after {elapsed:.2f}s, before the shutdown timeout, with a request in flight")
        c.wait_closed(2)   # whatever it got (perhaps a 503/504), the client connection ends


@test
def sigint_also_shuts_down() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}))
    check_eq(haven.get("/x").status, 200, "status")
    haven.signal(signal.SIGINT)
    rc = haven.wait(5)
    check(rc is not None, "haven still running 5 s after SIGINT")
    check_eq(rc, 0, "exit code after SIGINT")


@test
def stop_when_idle_exits_zero() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}))
    check_eq(haven.get("/x").status, 200, "status")
    start = time.monotonic()
    rc = haven.stop()
    check_eq(rc, 0, "exit code")
    check(time.monotonic() - start < 3, "idle haven took more than 3 s to stop")
    check(connect_refused(haven.host, haven.port), "port still accepting after exit")


if __name__ == "__main__":
    run()
