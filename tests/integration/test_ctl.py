"""`haven ctl` against a running haven: what it prints, what it changes, and its exit codes."""
import os
import select
import socket
import subprocess
import time

from harness import Haven, Upstream, check, check_eq, haven_path, make_config, run, test

TOKEN = "ctl-token-0123456789"


def ctl(haven: Haven | None, *args: str, token: str | None = None, port: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    env.pop("HAVEN_ADMIN", None)
    env.pop("HAVEN_ADMIN_TOKEN", None)
    if token is not None:
        env["HAVEN_ADMIN_TOKEN"] = token
    admin_port = port if port is not None else haven.admin_port()
    return subprocess.run([haven_path(), "ctl", "--admin", f"http://127.0.0.1:{admin_port}", *args],
                          capture_output=True, text=True, timeout=30, env=env)


@test
def status_servers_and_changes() -> None:
    a = Upstream(name="a")
    b = Upstream(name="b")
    haven = Haven(make_config({"static": [{"name": "a", "address": a}, {"name": "b", "address": b, "backup": True}]},
                              extra='[admin]\nbind = "127.0.0.1:0"\n'))
    status = ctl(haven, "status")
    check_eq(status.returncode, 0, f"status: {status.stderr}")
    check("static" in status.stdout and "primary" in status.stdout, f"the backend line: {status.stdout}")
    check("\x1b[" not in status.stdout, "no colour with NO_COLOR or without a terminal")
    servers = ctl(haven, "servers")
    check_eq(servers.stdout.splitlines(), ["static/a UP READY 1", "static/b UP READY 1"], "servers")
    drained = ctl(haven, "drain", "static/a")
    check_eq((drained.returncode, drained.stdout.strip()), (0, "static/a UP DRAIN weight 1"), "drain")
    haven.wait_event(r"server static/a set to DRAIN by admin API")
    weighted = ctl(haven, "weight", "static/b", "7")
    check_eq(weighted.stdout.strip(), "static/b UP READY weight 7", "weight")
    check_eq(ctl(haven, "weight", "static/b", "default").stdout.strip(), "static/b UP READY weight 1", "default weight")
    check_eq(ctl(haven, "ready", "static/a").returncode, 0, "ready")
    reloaded = ctl(haven, "reload")
    check_eq(reloaded.returncode, 0, f"reload: {reloaded.stderr}")
    check("configuration reloaded" in reloaded.stdout, f"reload says so: {reloaded.stdout}")


@test
def exit_codes_tell_refused_usage_and_unreachable_apart() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, extra=f'[admin]\nbind = "127.0.0.1:0"\ntoken = "{TOKEN}"\n'))
    unknown = ctl(haven, "drain", "static/nope", token=TOKEN)
    check_eq(unknown.returncode, 1, "an unknown server")
    check("no server \"nope\"" in unknown.stderr, f"why: {unknown.stderr}")
    check_eq(ctl(haven, "drain", "static/s1").returncode, 1, "a write without the token")
    check_eq(ctl(haven, "drain", "static/s1", token=TOKEN).returncode, 0, "with the token")
    check_eq(ctl(haven, "drain", "nonsense").returncode, 2, "not BACKEND/SERVER")
    check_eq(ctl(haven, "weight", "static/s1", "lots").returncode, 2, "a weight that is no number")
    check_eq(ctl(haven, "frobnicate").returncode, 2, "an unknown command")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free_port = closed.getsockname()[1]
    closed.close()
    unreachable = ctl(None, "status", port=free_port)
    check_eq(unreachable.returncode, 3, "nothing listening")
    check("cannot reach" in unreachable.stderr, f"why: {unreachable.stderr}")


@test
def events_lists_what_happened_and_follows_what_comes() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, extra='[admin]\nbind = "127.0.0.1:0"\n'))
    listed = ctl(haven, "events")
    check_eq(listed.returncode, 0, f"events: {listed.stderr}")
    check("frontend web listening on" in listed.stdout, f"the start-up events: {listed.stdout}")
    env = dict(os.environ, NO_COLOR="1")
    follower = subprocess.Popen([haven_path(), "ctl", "--admin", f"http://127.0.0.1:{haven.admin_port()}", "events",
                                 "--follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        check_eq(ctl(haven, "drain", "static/s1").returncode, 0, "drain")
        # Raw reads: a buffered reader could hold the line already read while select() waits.
        deadline = time.monotonic() + 20
        seen = ""
        fd = follower.stdout.fileno()
        while "set to DRAIN by admin API" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk.decode(errors="replace")
        check("server static/s1 set to DRAIN by admin API" in seen, f"followed events: {seen!r}")
    finally:
        follower.kill()
        follower.wait(5)


@test
def note_writes_a_line_from_outside_into_the_event_log() -> None:
    """keepalived's notify hook calls `haven ctl note keepalived MESSAGE`: the line is in the event
    log as a "note" naming its writer; a writer name or message that could forge lines is refused."""
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, extra=f'[admin]\nbind = "127.0.0.1:0"\ntoken = "{TOKEN}"\n'))
    check_eq(ctl(haven, "note", "keepalived", "VI_1 became MASTER").returncode, 1, "a note without the token")
    written = ctl(haven, "note", "keepalived", "VI_1 became MASTER", token=TOKEN)
    check_eq(written.returncode, 0, f"note: {written.stderr}")
    haven.wait_event(r"keepalived: VI_1 became MASTER")
    listed = ctl(haven, "events", token=TOKEN)
    check("keepalived: VI_1 became MASTER" in listed.stdout, f"events: {listed.stdout}")
    for writer, message in (("keep alived", "x"), ("keepalived", "two\nlines"), ("keepalived", ""), ("", "x"),
                            ("k" * 33, "x"), ("keepalived", "m" * 1025)):
        refused = ctl(haven, "note", writer, message, token=TOKEN)
        check_eq(refused.returncode, 1, f"note from {writer!r}: {message[:20]!r}")
    check("two" not in haven.events(), "a refused note reached the event log")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = haven.admin("POST", "/api/v1/events", {"from": "deploy", "message": "v2 rolled out", "extra": 1},
                         headers=auth)
    check_eq(answer.status, 400, "an unknown member")
    # UTF-8 text is fine; characters that reorder or break what a reader sees are not.
    check_eq(haven.admin("POST", "/api/v1/events", {"from": "deploy", "message": "version 2 déployée"},
                         headers=auth).status, 201, "a UTF-8 note")
    for forged in ("right\u202eto left", "line\u2028separator", "c1\u009bcontrol"):
        check_eq(haven.admin("POST", "/api/v1/events", {"from": "deploy", "message": forged}, headers=auth).status,
                 400, f"a note with {forged!r}")
    raw = b'{"from": "deploy", "message": "bad \xff byte"}'
    check_eq(haven.admin("POST", "/api/v1/events", raw, headers=auth).status, 400, "a note that is not UTF-8")
    # A runaway script is told to slow down rather than fill the disk.
    statuses = [haven.admin("POST", "/api/v1/events", {"from": "loop", "message": f"n{i}"}, headers=auth).status
                for i in range(200)]
    check(429 in statuses, f"200 notes in a row were never refused: {sorted(set(statuses))}")


@test
def peers_get_the_same_change_and_a_failed_peer_is_never_silent() -> None:
    a, b = Upstream(name="a"), Upstream(name="b")
    admin = '[admin]\nbind = "127.0.0.1:0"\n'
    first = Haven(make_config({"static": [{"name": "a", "address": a}, {"name": "b", "address": b}]}, extra=admin))
    second = Haven(make_config({"static": [{"name": "a", "address": a}, {"name": "b", "address": b}]}, extra=admin))
    peers = f"http://127.0.0.1:{first.admin_port()},http://127.0.0.1:{second.admin_port()}"

    def run_peers(*args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, NO_COLOR="1")
        env.pop("HAVEN_ADMIN_TOKEN", None)
        return subprocess.run([haven_path(), "ctl", "--peers", peers, *args], capture_output=True, text=True,
                              timeout=30, env=env)

    drained = run_peers("drain", "static/a")
    check_eq(drained.returncode, 0, f"drain on both: {drained.stderr}")
    check_eq(drained.stdout.count("static/a UP DRAIN weight 1"), 2, drained.stdout)
    for haven in (first, second):
        haven.wait_event(r"server static/a set to DRAIN by admin API")
    listing = run_peers("servers")
    check_eq(listing.stdout.count("static/a UP DRAIN 1"), 2, listing.stdout)

    # One peer gone: the other still gets the change, and the exit status says the pair differs.
    second.terminate()
    second.wait(10)
    ready = run_peers("ready", "static/a")
    check_eq(ready.returncode, 3, f"exit status with a peer down: {ready.stdout} {ready.stderr}")
    check("1 of 2 peers did not do it" in ready.stderr and "the peers are not alike now" in ready.stderr, ready.stderr)
    first.wait_event(r"server static/a set to READY by admin API")
    refused = run_peers("drain", "static/nope")
    check_eq(refused.returncode, 3, "a refusal and an unreachable peer: the worst status")


if __name__ == "__main__":
    run()
