"""Worker threads and descriptor limits: several event loops share the listening port, and a
process that cannot get the open-file limit max_connections needs still starts, says so, and
pauses accepting at its real limit instead of failing or spinning."""
import os
import socket
import threading
import time

from harness import TLS_MODE, Haven, Skip, Upstream, check, check_eq, make_config, run, test, wait_until


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@test
def two_workers_serve_concurrent_clients() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, global_={"workers": 2}))
    # main thread + two workers
    check(thread_count(haven.pid) >= 3, f"haven runs {thread_count(haven.pid)} threads, want >= 3")
    failures: list[str] = []

    def client(n: int) -> None:
        try:
            with haven.client() as c:
                for i in range(10):
                    resp = c.request("GET", f"/w/{n}/{i}")
                    if resp.status != 200:
                        failures.append(f"/w/{n}/{i}: {resp.status}")
        except Exception as error:  # noqa: BLE001 - collected and reported below
            failures.append(f"client {n}: {error!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    check_eq(failures, [], "failed requests")
    wait_until(lambda: len(haven.access_lines()) >= 400, 5, "400 access-log lines")
    check_eq(len(haven.access_lines()), 400, "access-log lines")


@test
def low_open_file_limit_lowers_max_connections_and_pauses_accepting() -> None:
    if TLS_MODE:
        raise Skip("accept pausing is the same over TLS; a TLS client's handshake would wait on it")
    up = Upstream(name="s1")
    # 200 descriptors: (200 - 64) / 2 = 68 connections at the most.
    haven = Haven(make_config({"static": [up]}, global_={"max_connections": 20000}), open_file_limit=200)
    match = haven.wait_event(r"open-file limit is 200 .*accepting at most (\d+) connections")
    limit = int(match.group(1))
    check_eq(limit, 68, "effective connection limit")

    held = []
    for i in range(limit):
        c = haven.client()
        check_eq(c.request("GET", f"/held/{i}").status, 200, f"request on connection {i}")
        held.append(c)
    # One more connection is accepted by the kernel but not by haven: its request waits.
    extra = socket.create_connection((haven.host, haven.port), timeout=5)
    extra.sendall(b"GET /extra HTTP/1.1\r\nHost: t\r\n\r\n")
    extra.settimeout(0.6)
    try:
        data = extra.recv(100)
        check(False, f"a connection beyond the limit was served: {data!r}")
    except socket.timeout:
        pass
    # Paused, not spinning: almost no CPU while the connection waits.
    before = cpu_seconds(haven.pid)
    time.sleep(1.0)
    used = cpu_seconds(haven.pid) - before
    check(used < 0.3, f"haven used {used:.2f} s of CPU in 1 s while paused")
    # A slot frees up: the waiting connection is taken and answered.
    held.pop().close()
    extra.settimeout(5)
    data = extra.recv(100)
    check(data.startswith(b"HTTP/1.1 200"), f"waiting connection got {data!r}")
    extra.close()
    for c in held:
        c.close()
    check(haven.proc.poll() is None, "haven is still running")


if __name__ == "__main__":
    run()
