"""Upgrade in place (haven --upgrade-from PIDFILE, SIGUSR2): the new process takes the listening
sockets, health and admin state over; under load no connection is refused and no request fails;
a new binary that cannot start leaves the old one serving; the unix admin socket survives."""
import os
import signal
import socket
import ssl
import threading
import time

from harness import (Client, Haven, ProtocolError, Upstream, check, check_eq, connect_refused, fast_check,
                     make_config, new_temp_dir, note, run, run_ca, test, wait_until)

ADMIN = '[admin]\nbind = "127.0.0.1:0"\n'


def read_pid(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def upgrade(old: Haven, config_text: str, pid_file: str) -> Haven:
    """Starts a new haven with --upgrade-from and waits until the old one has exited."""
    new = Haven(config_text, extra_args=["--upgrade-from", pid_file])
    new.wait_event(r"upgrade in place: took over from process", 10)
    rc = old.wait(15)
    check(rc is not None, "the replaced haven still runs 15 s after the upgrade")
    check_eq(rc, 0, "exit status of the replaced haven")
    old.stop()
    wait_until(lambda: read_pid(pid_file) == new.pid, 5, "the pid file to name the new process")
    return new


class Load:
    """Clients that never stop during the test: some open a connection per request, some keep theirs
    alive. A refused connection, a reset, or a connection closed before a whole answer is a failure;
    a keep-alive connection the server closes after an answer is reopened."""

    def __init__(self, port: int, fresh: int = 3, kept: int = 3):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._fresh, args=(i,), daemon=True) for i in range(fresh)]
        self.threads += [threading.Thread(target=self._kept, args=(i,), daemon=True) for i in range(kept)]
        for thread in self.threads:
            thread.start()

    def _record(self, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.ok += 1
            else:
                self.failures.append(error)

    def _fresh(self, index: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                with Client("127.0.0.1", self.port, timeout=10) as c:
                    resp = c.request("GET", f"/fresh/{index}/{n}", headers=[("Connection", "close")])
                    self._record(None if resp.status == 200 else f"fresh: status {resp.status}")
            except (OSError, ProtocolError) as error:
                self._record(f"fresh request {n}: {error!r}")
            time.sleep(0.002)

    def _kept(self, index: int) -> None:
        n = 0
        client: Client | None = None
        idle_since = time.monotonic()
        while not self.stop.is_set():
            n += 1
            try:
                if client is None:
                    client = Client("127.0.0.1", self.port, timeout=10)
                    idle_since = time.monotonic()
                resp = client.request("GET", f"/kept/{index}/{n}")
                self._record(None if resp.status == 200 else f"kept: status {resp.status}")
                idle_since = time.monotonic()
                if (resp.headers.get("Connection") or "").lower() == "close":
                    client.close()
                    client = None
            except (OSError, ProtocolError) as error:
                # A connection left idle past the drain's grace (this thread was not scheduled for a
                # second on a loaded machine) may be closed under the next request: HTTP clients
                # send that request again on a new connection, and so does this one. A busy
                # connection's failure is a failure.
                stale = time.monotonic() - idle_since >= 0.9
                if client is not None:
                    client.close()
                client = None
                if not stale:
                    self._record(f"keep-alive request {n}: {error!r}")
            time.sleep(0.002)
        if client is not None:
            client.close()

    def count(self) -> int:
        with self.lock:
            return self.ok

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


@test
def upgrades_under_load_refuse_and_fail_nothing() -> None:
    """Three upgrades in a row (2 workers, then 1, then 3, then 2) while six clients loop: every
    request is answered 200, and the pid file follows each new process."""
    servers = [Upstream(name="s1"), Upstream(name="s2")]
    configs = [make_config({"static": {"servers": servers, "check": fast_check()}}, global_={"workers": w},
                           extra=ADMIN) for w in (2, 1, 3, 2)]
    pid_file = os.path.join(new_temp_dir("pid-"), "haven.pid")
    haven = Haven(configs[0], extra_args=["--pid-file", pid_file])
    wait_until(lambda: read_pid(pid_file) == haven.pid, 5, "the pid file")
    load = Load(haven.port)
    try:
        for config in configs[1:]:
            before = load.count()
            wait_until(lambda: load.count() >= before + 50, 20, "50 requests before the upgrade")
            port = haven.port
            haven = upgrade(haven, config, pid_file)
            check_eq(haven.port, port, "port after the upgrade")
            before = load.count()
            wait_until(lambda: load.count() >= before + 50, 20, "50 requests after the upgrade")
    finally:
        load.finish()
    note(f"{load.count()} requests through 3 upgrades, {len(load.failures)} failed")
    check(not load.failures, f"failed requests: {load.failures[:5]}")
    haven.stop()
    check(not os.path.exists(pid_file), "the pid file is left behind after the last haven stopped")


@test
def health_and_admin_state_carry_over() -> None:
    """A server the old process knows DOWN is DOWN in the new one from its first request: its own
    checks (hourly, each waiting 30 s) cannot have found out, and a request sent to it would hang. A
    drained server stays DRAIN and gets nothing; a runtime weight stays."""
    down = Upstream("hang", name="down")   # accepts and never answers: checks and requests alike
    drained = Upstream(name="drained")
    weighted = Upstream(name="weighted")
    servers = [down, drained, weighted]
    old_config = make_config({"static": {"servers": servers, "check": fast_check()}}, extra=ADMIN)
    new_config = make_config({"static": {"servers": servers, "check": fast_check(interval="1h", timeout="30s")}},
                             extra=ADMIN)
    pid_file = os.path.join(new_temp_dir("pid-"), "haven.pid")
    old = Haven(old_config, extra_args=["--pid-file", pid_file])
    old.wait_event(r"server static/down is DOWN", 10)
    check_eq(old.admin("PATCH", "/api/v1/backends/static/servers/drained", {"state": "drain"}).status, 200, "drain")
    check_eq(old.admin("PATCH", "/api/v1/backends/static/servers/weighted", {"weight": 7}).status, 200, "weight")
    new = upgrade(old, new_config, pid_file)

    def servers_now() -> dict:
        return {s["name"]: s for s in new.admin("GET", "/api/v1/backends/static/servers").json()["servers"]}

    before = servers_now()
    check_eq(before["down"]["health"]["state"], "DOWN", "health of the server that was DOWN")
    check_eq(before["drained"]["admin"]["state"], "DRAIN", "admin state of the drained server")
    check_eq(before["weighted"]["weight"]["runtime"], 7, "runtime weight")
    check_eq(new.admin("GET", "/health").status, 200, "/health at once: the handed-over health counts as found")
    for i in range(20):
        check_eq(new.get(f"/after/{i}", timeout=10).status, 200, f"request {i} after the upgrade")
    after = servers_now()
    check_eq(after["down"]["health"]["state"], "DOWN", "still DOWN after the requests")
    check(not any(r.path.startswith("/after/") for r in down.traffic()), "a request went to the DOWN server")
    check(not any(r.path.startswith("/after/") for r in drained.traffic()), "a request went to the drained server")
    check_eq(len([r for r in weighted.traffic() if r.path.startswith("/after/")]), 20, "requests to the weighted server")
    new.stop()


@test
def a_new_binary_that_cannot_serve_leaves_the_old_one_serving() -> None:
    """The new configuration adds a frontend on a port in use: the new process exits 1, the old one
    says so in its event log, keeps answering, and takes admin changes again."""
    upstream = Upstream(name="s1")
    config = make_config({"static": [upstream]}, extra=ADMIN)
    pid_file = os.path.join(new_temp_dir("pid-"), "haven.pid")
    old = Haven(config, extra_args=["--pid-file", pid_file])
    load = Load(old.port, fresh=3, kept=1)
    wait_until(lambda: load.count() >= 50, 20, "requests before the attempt")
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy_port = blocker.getsockname()[1]
    try:
        # Three workers where the old one has one: the two more must not have joined the live
        # port's group with sockets of their own, which would reset what queued in them.
        bad = make_config({"static": [upstream]}, global_={"workers": 3}, extra=ADMIN) + \
            f'\n[frontends.second]\nbind = "127.0.0.1:{busy_port}"\ndefault_backend = "static"\n'
        mark = old.event_mark()
        new = Haven(bad, extra_args=["--upgrade-from", pid_file], wait_ready=False)
        rc = new.wait(15)
        check_eq(rc, 1, "exit status of the new process that could not listen")
        new.stop()
        old.wait_event(r"upgrade in place failed: the new process could not start: .*cannot listen.*keeps serving",
                       5, since=mark)
    finally:
        blocker.close()
        before = load.count()
        wait_until(lambda: load.count() >= before + 50, 20, "requests after the attempt")
        load.finish()
    check(not load.failures, f"failed requests around the failed upgrade: {load.failures[:5]}")
    check(old.running(), "the old haven stopped")
    check_eq(read_pid(pid_file), old.pid, "the pid file still names the old process")
    for i in range(5):
        check_eq(old.get(f"/still/{i}").status, 200, "the old haven still answers")
    check_eq(old.admin("PATCH", "/api/v1/backends/static/servers/s1", {"weight": 3}).status, 200,
             "admin writes are taken again")
    check_eq(old.admin("POST", "/api/v1/reload").status, 200, "reloads are taken again")
    # A configuration with an error never reaches the running haven at all.
    broken = Haven("[global]\nworkers = oops\n", extra_args=["--upgrade-from", pid_file], wait_ready=False)
    check_eq(broken.wait(10), 1, "exit status with a broken configuration")
    broken.stop()
    check(old.running(), "the old haven stopped after a broken configuration")
    check_eq(old.get("/after-broken").status, 200, "the old haven answers")
    old.stop()


@test
def a_frontend_the_new_configuration_drops_refuses_instead_of_hanging() -> None:
    """The new process closes the sockets no frontend of its configuration takes: clients of a
    dropped frontend are refused at once, not left waiting on a socket nobody accepts on."""
    upstream = Upstream(name="s1")
    second = '[frontends.second]\nbind = "127.0.0.1:0"\ndefault_backend = "static"\n'
    pid_file = os.path.join(new_temp_dir("pid-"), "haven.pid")
    old = Haven(make_config({"static": [upstream]}, extra=ADMIN + second), extra_args=["--pid-file", pid_file])
    dropped_port = old.ports["second"]
    new = upgrade(old, make_config({"static": [upstream]}, extra=ADMIN), pid_file)
    new.wait_event(r"closed 1 listening socket of frontends this configuration does not have", 5)
    check(connect_refused("127.0.0.1", dropped_port), "the dropped frontend's port still takes connections")
    check_eq(new.get("/kept").status, 200, "the kept frontend answers")
    new.stop()


@test
def sigusr2_starts_the_new_binary_which_takes_over() -> None:
    """SIGUSR2 starts the binary again with the same options as --upgrade-from-pid: the pid file
    names the new process, the old one exits 0, and the port answers throughout."""
    upstream = Upstream(name="s1")
    config = make_config({"static": [upstream]}, extra=ADMIN)
    pid_file = os.path.join(new_temp_dir("pid-"), "haven.pid")
    old = Haven(config, extra_args=["--pid-file", pid_file])
    wait_until(lambda: read_pid(pid_file) == old.pid, 5, "the pid file")
    load = Load(old.port, fresh=2, kept=2)
    new_pid = 0
    try:
        wait_until(lambda: load.count() >= 50, 20, "requests before SIGUSR2")
        old.signal(signal.SIGUSR2)
        wait_until(lambda: read_pid(pid_file) not in (0, old.pid), 15, "the pid file to name the new process")
        new_pid = read_pid(pid_file)
        check_eq(old.wait(15), 0, "exit status of the replaced haven")
        before = load.count()
        wait_until(lambda: load.count() >= before + 50, 20, "requests after the upgrade")
    finally:
        load.finish()
        if new_pid and process_exists(new_pid):
            os.kill(new_pid, signal.SIGTERM)
            wait_until(lambda: not process_exists(new_pid) or _reaped(new_pid), 15, "the new haven to stop")
    old.stop()
    check(not load.failures, f"failed requests: {load.failures[:5]}")
    events = old.events()  # the new process writes to the same standard error
    check("SIGUSR2: started" in events, "no event about the started binary")
    check("took over from process" in events, "no event from the new process")


def _reaped(pid: int) -> bool:
    # The new process is a child of the old one, now of init (or of this test's process when it
    # is a subreaper): a zombie counts as stopped.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@test
def an_upgrade_waits_for_no_shift_and_says_why() -> None:
    """With a traffic shift under way, the running haven refuses the hand-over (its weights live in
    that process only) and the new binary says why."""
    a = Upstream(name="a")
    b = Upstream(name="b")
    config = make_config({"static": {"servers": [{"name": "a", "address": a, "group": "blue"},
                                                 {"name": "b", "address": b, "group": "green"}]}}, extra=ADMIN)
    pid_file = os.path.join(new_temp_dir("pid-"), "haven.pid")
    old = Haven(config, extra_args=["--pid-file", pid_file])
    answer = old.admin("POST", "/api/v1/backends/static/shift", {"from": "blue", "to": "green", "hold": "1h"})
    check_eq(answer.status, 201, f"shift: {answer.json()}")
    new = Haven(config, extra_args=["--upgrade-from", pid_file], wait_ready=False)
    check_eq(new.wait(15), 1, "exit status of the refused upgrade")
    new.stop()
    check("traffic shift" in new.events(), f"the refusal does not name the shift: {new.events()[-500:]}")
    check(old.running(), "the old haven stopped")
    check_eq(old.get("/still").status, 200, "the old haven answers")
    old.stop()


@test
def a_unix_admin_socket_survives_the_upgrade() -> None:
    """The admin listener on a unix socket is handed over too: its path stays and the new process
    answers on it."""
    upstream = Upstream(name="s1")
    directory = new_temp_dir("admin-")
    path = os.path.join(directory, "admin.sock")
    config = make_config({"static": [upstream]}, extra=f'[admin]\nbind = "unix:{path}"\n')
    pid_file = os.path.join(directory, "haven.pid")
    old = Haven(config, extra_args=["--pid-file", pid_file])
    wait_until(lambda: os.path.exists(path), 5, "the admin socket")
    new = upgrade(old, config, pid_file)
    check(os.path.exists(path), "the admin socket's path is gone after the upgrade")
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(5)
    conn.connect(path)
    conn.sendall(b"GET /stats.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()
    check(data.startswith(b"HTTP/1.1 200"), f"admin answer on the socket: {data[:200]!r}")
    check(f'"pid":{new.pid}'.encode() in data, "the answer is not from the new process")
    new.stop()


@test
def tls_sessions_resume_across_the_upgrade() -> None:
    """The session ticket keys are handed over: a client that got a ticket from the old process
    resumes its session with the new one (TLS 1.3 and 1.2), with no full handshake."""
    upstream = Upstream(name="s1")
    cert, key = run_ca().localhost
    config = make_config({"static": [upstream]}, tls={"certificates": [{"cert": cert, "key": key}]}, extra=ADMIN)
    pid_file = os.path.join(new_temp_dir("pid-"), "haven.pid")
    old = Haven(config, extra_args=["--pid-file", pid_file])
    sessions = {}
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        context = run_ca().client_context()
        context.maximum_version = version
        with Client(old.host, old.port, tls=context) as first:
            check_eq(first.request("GET", "/before").status, 200, "request before the upgrade")
            sessions[version] = (context, first.sock.session)
    new = upgrade(old, config, pid_file)
    for version, (context, session) in sessions.items():
        with Client(new.host, new.port, tls=context, session=session) as again:
            check_eq(again.request("GET", "/after").status, 200, "request after the upgrade")
            check(again.sock.session_reused, f"the session did not resume after the upgrade ({version.name})")
    new.stop()


class NotifySocket:
    """systemd's end of sd_notify: a datagram socket that knows which process sent what."""

    def __init__(self, directory: str):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages: list[tuple[int, str]] = []

    def receive(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            while True:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
                pid = 0
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        pid = int.from_bytes(payload[0:4], "little")
                self.messages.append((pid, data.decode()))
                self.sock.settimeout(0.05)
        except (TimeoutError, socket.timeout, BlockingIOError):
            pass

    def wait_for(self, pid: int, text: str, timeout: float = 10) -> None:
        wait_until(lambda: (self.receive(0.05), any(p == pid and text in m for p, m in self.messages))[1], timeout,
                   f"{text!r} from process {pid} on the notify socket")

    def close(self) -> None:
        self.sock.close()


@test
def systemd_follows_the_new_process_and_hears_no_stop_from_the_old() -> None:
    """Under systemd (Type=notify, NotifyAccess=all): READY=1 with MAINPID once serving; after an
    upgrade the new process names itself MAINPID before the old one exits, and the old one, which
    hands over rather than stops, never says STOPPING=1; a SIGTERM later does."""
    upstream = Upstream(name="s1")
    config = make_config({"static": [upstream]}, extra=ADMIN)
    directory = new_temp_dir("notify-")
    notify = NotifySocket(directory)
    pid_file = os.path.join(directory, "haven.pid")
    saved = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = notify.path
    try:
        old = Haven(config, extra_args=["--pid-file", pid_file])
        notify.wait_for(old.pid, f"MAINPID={old.pid}\nREADY=1")
        new = upgrade(old, config, pid_file)
        # The old process, which systemd follows, names the new one before it may exit.
        notify.wait_for(old.pid, f"MAINPID={new.pid}")
        notify.wait_for(new.pid, f"MAINPID={new.pid}\nREADY=1")
        notify.receive(0.2)
        check(not any(p == old.pid and "STOPPING=1" in m for p, m in notify.messages),
              f"the replaced process said STOPPING=1: {notify.messages}")
        new.terminate()
        notify.wait_for(new.pid, "STOPPING=1")
        check_eq(new.wait(10), 0, "exit status")
        new.stop()
    finally:
        if saved is None:
            os.environ.pop("NOTIFY_SOCKET", None)
        else:
            os.environ["NOTIFY_SOCKET"] = saved
        notify.close()


if __name__ == "__main__":
    run()
