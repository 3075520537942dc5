"""Keep-alive: client connections carry many requests, upstream connections are pooled and reused."""
import hashlib
import os
import threading
import time

from harness import (TLS_MODE, Skip, Haven, Request, Upstream, UpstreamConn, build_response, check, check_eq,
                     make_config, run, test, wait_until)


def single_backend(upstream: Upstream, **kwargs) -> Haven:
    return Haven(make_config({"static": [upstream]}, **kwargs))


@test
def fifty_requests_on_one_client_connection_use_one_upstream_connection() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for i in range(50):
            resp = c.request("GET", f"/ka/{i}")
            check_eq(resp.status, 200, f"status of request {i}")
            check_eq(resp.json()["target"], f"/ka/{i}", f"target echoed for request {i}")
            check(not resp.until_close, "response delimited by close on a keep-alive connection")
            check("close" not in resp.headers.tokens("connection"), f"haven asked to close after request {i}")
        check(c.is_open(0.1), "client connection closed after 50 requests")
    check_eq(up.request_count(), 50, "requests at the upstream")
    check_eq(up.connections, 1, "TCP connections accepted by the upstream")


@test
def connection_close_clients_still_share_pooled_upstream_connections() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    for i in range(50):
        with haven.client() as c:
            resp = c.request("GET", f"/close/{i}", headers=[("Connection", "close")])
            check_eq(resp.status, 200, f"status of request {i}")
            check_eq(resp.json()["target"], f"/close/{i}", "target echoed")
            c.wait_closed(3.0)   # haven closes the client connection after answering
    check_eq(up.request_count(), 50, "requests at the upstream")
    check(up.connections <= 2, f"upstream accepted {up.connections} TCP connections for 50 requests (want <= 2)")
    # The client's Connection: close is hop-by-hop: it must not close the pooled upstream connection.
    for req in up.requests:
        check("close" not in req.headers.tokens("connection"), "client's Connection: close forwarded upstream")


@test
def http10_client_gets_response_and_close() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        c.send(b"GET /old HTTP/1.0\r\nHost: test\r\n\r\n")
        resp = c.read_response()
        check_eq(resp.status, 200, "status")
        check(not resp.chunked, "chunked response sent to an HTTP/1.0 client")
        check_eq(resp.json()["target"], "/old", "target")
        c.wait_closed(3.0)


@test
def http10_keep_alive_client() -> None:
    """An HTTP/1.0 client asking for keep-alive may be kept open (then every response is
    length-delimited) or closed (then the close must be announced and done)."""
    up = Upstream(name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for i in range(3):
            c.send(f"GET /old/{i} HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\n\r\n".encode())
            resp = c.read_response()
            check_eq(resp.status, 200, f"status {i}")
            check(not resp.chunked, "chunked response sent to an HTTP/1.0 client")
            check_eq(resp.json()["target"], f"/old/{i}", "target")
            tokens = resp.headers.tokens("connection")
            persistent = not resp.until_close and "close" not in tokens and (
                "keep-alive" in tokens or resp.version == "HTTP/1.1")
            if not persistent:
                c.wait_closed(3.0)
                return


@test
def upstream_closing_after_each_response_is_transparent() -> None:
    def close_each(req: Request, conn: UpstreamConn) -> bool:
        conn.send(build_response(200, f"closing {req.target}".encode(), [("Connection", "close")]))
        return False

    up = Upstream(handler=close_each, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for i in range(5):
            resp = c.request("GET", f"/uc/{i}")
            check_eq(resp.status, 200, f"status {i}")
            check_eq(resp.body, f"closing /uc/{i}".encode(), f"body {i}")
            check("close" not in resp.headers.tokens("connection"),
                  "upstream's hop-by-hop Connection: close reached the client")
    check_eq(up.connections, 5, "upstream connections (one per request)")


@test
def stale_pooled_connection_is_retried_for_idempotent_request() -> None:
    """The upstream closes an idle keep-alive connection shortly after answering; the next GET must
    not fail (haven notices the close, or retries on a new connection)."""
    def answer_then_close_soon(req: Request, conn: UpstreamConn) -> bool:
        conn.respond(200, f"ok {req.target}".encode())
        time.sleep(0.1)
        return False  # closes without announcing it (a server's own keep-alive timeout)

    up = Upstream(handler=answer_then_close_soon, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for i in range(5):
            resp = c.request("GET", f"/stale/{i}")
            check_eq(resp.status, 200, f"status {i}")
            check_eq(resp.body, f"ok /stale/{i}".encode(), f"body {i}")
            wait_until(lambda: up.closed_connections >= i + 1, 3.0, "the upstream to close its connection")
            time.sleep(0.05)  # let the FIN reach haven (either way the request must succeed)


@test
def stale_pooled_connection_race_retried() -> None:
    """Same, but the request is sent the very moment the upstream closes, so haven may write it on
    a connection that is already closed: an idempotent GET must be retried, not answered 502."""
    def answer_then_close(req: Request, conn: UpstreamConn) -> bool:
        conn.respond(200, f"ok {req.target}".encode())
        return False

    up = Upstream(handler=answer_then_close, name="s1")
    haven = single_backend(up)
    with haven.client() as c:
        for i in range(20):
            resp = c.request("GET", f"/race/{i}")
            check_eq(resp.status, 200, f"status {i}")
            check_eq(resp.body, f"ok /race/{i}".encode(), f"body {i}")


@test
def idle_client_connection_closed_after_keep_alive_timeout() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up, timeouts={"keep_alive": "1s"})
    with haven.client() as c:
        check_eq(c.request("GET", "/idle").status, 200, "status")
        start = time.monotonic()
        c.wait_closed(4.0)
        elapsed = time.monotonic() - start
        check(elapsed >= 0.5, f"idle connection closed after {elapsed:.2f}s, keep_alive is 1s")


@test
def keep_alive_timeout_does_not_cut_a_slow_response() -> None:
    """keep_alive bounds the idle time between requests, not the wait for a response."""
    up = Upstream("slow", name="s1", delay=1.5)
    haven = single_backend(up, timeouts={"keep_alive": "1s"})
    with haven.client(timeout=6) as c:
        resp = c.request("GET", "/slow")
        check_eq(resp.status, 200, "status")
        check_eq(resp.json()["target"], "/slow", "target")


@test
def concurrent_clients_get_their_own_answers() -> None:
    """16 client connections at once, 25 requests each, bodies of varied sizes: every answer
    belongs to its own request."""
    up = Upstream(name="s1")
    haven = single_backend(up)
    failures: list[str] = []

    def worker(n: int) -> None:
        try:
            with haven.client(timeout=10) as c:
                for i in range(25):
                    body = os.urandom((n * 7919 + i * 104729) % 70000)
                    resp = c.request("POST", f"/conc/{n}/{i}", body=body)
                    got = resp.json()
                    if resp.status != 200 or got["target"] != f"/conc/{n}/{i}" or \
                            got["body_sha256"] != hashlib.sha256(body).hexdigest():
                        failures.append(f"client {n} request {i}: {resp.status} {got.get('target')}")
                        return
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    check(not any(t.is_alive() for t in threads), "client threads still running after 40 s")
    check(not failures, f"failures: {failures[:5]}")
    check_eq(up.request_count(), 16 * 25, "requests at the upstream")
    check(up.connections <= 16, f"{up.connections} upstream connections for 16 concurrent clients")


@test
def two_hundred_simultaneous_connections() -> None:
    up = Upstream(name="s1")
    haven = single_backend(up)
    clients = [haven.client(timeout=10) for _ in range(200)]
    for i, c in enumerate(clients):
        c.send(c.build_request("GET", f"/many/{i}"))
    for i, c in enumerate(clients):
        resp = c.read_response()
        check_eq((resp.status, resp.json()["target"]), (200, f"/many/{i}"), f"client {i}")
    for c in clients:
        c.close()


@test
def max_connections_pauses_accepting() -> None:
    if TLS_MODE:
        raise Skip("accept pausing is the same over TLS; a TLS client's handshake would wait on it")
    up = Upstream(name="s1")
    haven = single_backend(up, global_={"max_connections": 3})
    held = [haven.client() for _ in range(3)]
    for i, c in enumerate(held):
        check_eq(c.request("GET", f"/held/{i}").status, 200, f"held client {i}")
    extra = haven.client()     # the kernel completes the handshake; haven must not take it yet
    extra.send(extra.build_request("GET", "/extra"))
    check(not extra.readable(0.5), "a connection beyond max_connections was served")
    held[0].close()
    extra.settimeout(5)
    resp = extra.read_response()
    check_eq((resp.status, resp.json()["target"]), (200, "/extra"), "the waiting connection, once a slot freed")


if __name__ == "__main__":
    run()
