"""What one hostile client (or careless operator) can do to everybody else: each case pins a hole
that was open, so that it stays closed."""
import signal
import socket
import time

from harness import (Haven, Upstream, api_config, check, check_eq, fast_check, make_config, run, server_entry,
                     test, wait_until)


def served_by(resp) -> str:
    return resp.json()["server"]


@test
def sighup_is_logged_and_never_fatal() -> None:
    # Operators with nginx habits send SIGHUP to reload; its default action used to end haven.
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}))
    haven.signal(signal.SIGHUP)
    haven.wait_event(r"received SIGHUP: configuration reload is not supported", timeout=5)
    check(haven.running(), "haven exited on SIGHUP")
    check_eq(haven.get("/after-hup").status, 200, "status after SIGHUP")


def stall_upload(haven: Haven, target: str) -> socket.socket:
    """A POST whose head and 10 of 100 body bytes arrive, then silence."""
    sock = socket.create_connection((haven.host, haven.port), timeout=10)
    sock.sendall(f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n".encode() + b"0123456789")
    return sock


@test
def stalled_uploads_never_mark_a_server_down() -> None:
    # A client that stops sending its body leaves haven waiting on the client, not on the server:
    # it used to be blamed on the server ("traffic: response timeout"), which took every server
    # DOWN and sent every visitor to the maintenance page.
    main = Upstream(name="main_api")
    backup = Upstream(name="fallback_api")
    haven = Haven(api_config([server_entry(main), server_entry(backup, backup=True)],
                             check=fast_check(interval="10s", fall=1), retries=2,
                             timeouts={"server": "300ms", "client": "1s"}))
    wait_until(lambda: len(main.health_checks()) >= 1, 5, "the start-up check of the main")
    socks = [stall_upload(haven, f"/api/upload/{i}") for i in range(6)]
    try:
        for i, sock in enumerate(socks):
            sock.settimeout(10)
            answer = sock.recv(4096)
            check(answer.startswith(b"HTTP/1.1 408 "), f"answer to stalled upload {i}: {answer[:80]!r}")
    finally:
        for sock in socks:
            sock.close()
    resp = haven.get("/api/after")
    check_eq((resp.status, served_by(resp) if resp.status == 200 else resp.body[:200]), (200, "main_api"),
             "a request after the stalled uploads")
    check(" is DOWN " not in haven.events(), f"a server was blamed for the clients' silence:\n{haven.events()}")
    lines = [line for line in haven.access_lines() if "/api/upload/" in line]
    check_eq(len(lines), 6, f"access-log lines of the stalled uploads: {lines}")
    check(all(" 408 " in line and "client_timeout" in line for line in lines), f"access log: {lines}")


if __name__ == "__main__":
    run()
