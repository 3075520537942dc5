"""Failover of a haven pair behind a floating address, for real: two network namespaces running
haven and keepalived (the recipe in conf/keepalived/), joined by a bridge to a load client and two
backends, all on a subnet that exists only inside the namespaces this test creates.

  client 172.31.250.2 ──► VIP 172.31.250.100 ──► node a 172.31.250.11 (haven + keepalived, priority 150)
                                                 node b 172.31.250.12 (haven + keepalived, priority 100)
                                                     └──► backends b1 172.31.250.21, b2 172.31.250.22

At 50 requests per second, each on a new connection, the active node is hit by each fault in turn:
haven killed, keepalived stopped, its link down, haven without a server to send to (all in
maintenance there), and every server unreachable from that node only. Each time the VIP must
answer from the other node within 4 s, with failed requests only before that; then the fault is
undone and (with preemption, the recipe's default) node a takes the VIP back without an outage (no
gap over 0.5 s; at most two requests caught at the instant of the move). The notify hook's notes must reach the new master's event log.

Usage:  python3 tests/ha/test_failover.py --haven build/haven [--keepalived PATH] [--report FILE]
        [--nopreempt] [--keep]
Needs root (network namespaces); exits 77 (skipped, for ctest) without it, or without `ip netns`
or keepalived, except that under CI (CI=true) a missing keepalived or ip fails the test: CI installs
them (scripts/install-deps ha).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
from keepalived import NOTIFY_HOOK  # noqa: E402
from scenario import (BACKEND_PORT, BACKENDS, LOAD_RATE, SUBNET_PREFIX, VIP, Node, ScenarioError, format_table,  # noqa: E402
                      row_problems, run_faults, start_pair)

SKIP = 77
ADMIN = "http://127.0.0.1:9000"

HAVEN_CONFIG = """\
[global]
workers = 1
max_connections = 1000

[admin]
bind = "127.0.0.1:9000"     # in the node's own namespace: keepalived's check and hook reach it there
health_file = "{health_file}"   # keepalived's vrrp_track_file: the verdict pushed at once

[log]
access = "off"
events = "stderr"

[frontends.web]
bind = "0.0.0.0:80"         # accepts on the VIP whenever keepalived adds it
default_backend = "app"

[backends.app]
balance = "roundrobin"
retries = 2
check = {{ method = "GET", path = "/healthz", interval = "500ms", timeout = "400ms", rise = 2, fall = 2, expect_status = "200-399" }}
servers = [
{servers}
]
"""


class HavenProxy:
    """haven on one node, driven through its binary and `haven ctl` inside the node's namespace."""

    def __init__(self, lab: netns.Lab, host: str, binary: str, notify_hook: str, workdir: str) -> None:
        self.lab = lab
        self.host = host
        self.binary = binary
        self.config_path = os.path.join(workdir, f"haven-{host}.toml")
        self.log_path = os.path.join(workdir, f"haven-{host}.log")
        self.servers = [f"app/{name}" for name, _ in BACKENDS]
        self.health_script = f"{binary} ctl --admin {ADMIN} health"
        self.health_file = os.path.join(workdir, f"haven-{host}.serving")
        self.notify = f"{notify_hook} --haven {binary} --admin {ADMIN}"
        self.proc: subprocess.Popen | None = None
        servers = "\n".join(f'  {{ name = "{name}", address = "{address}:{BACKEND_PORT}" }},'
                            for name, address in BACKENDS)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(HAVEN_CONFIG.format(servers=servers, health_file=self.health_file))

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return self.lab.run(self.host, [self.binary, "ctl", "--admin", ADMIN, *args])

    def start(self) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.proc = self.lab.start(self.host, [self.binary, "-c", self.config_path], log=log)

    def kill(self) -> None:
        assert self.proc is not None
        self.lab.stop(self.proc, sig=signal.SIGKILL)

    def _set_all(self, state: str) -> None:
        for server in self.servers:
            result = self.ctl(state, server)
            if result.returncode != 0:
                raise ScenarioError(f"haven ctl {state} {server} on node {self.host}: {result.stderr.strip()}")

    def fail_health(self) -> None:
        self._set_all("maint")

    def restore_health(self) -> None:
        self._set_all("ready")

    def healthy(self) -> bool:
        return self.ctl("health").returncode == 0

    def notes(self) -> list[str]:
        """The messages of the "note" events in this haven's event log."""
        script = ("import json, sys, urllib.request\n"
                  f"events = json.load(urllib.request.urlopen('{ADMIN}/api/v1/events', timeout=5))['events']\n"
                  "print(json.dumps([e['message'] for e in events if e['kind'] == 'note']))\n")
        result = self.lab.run(self.host, [sys.executable, "-c", script])
        if result.returncode != 0:
            raise ScenarioError(f"reading node {self.host}'s events: {result.stderr.strip()}")
        return json.loads(result.stdout)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--haven", required=True, help="the haven binary")
    parser.add_argument("--keepalived", default="keepalived", help="the keepalived binary (default: from PATH)")
    parser.add_argument("--report", help="also write the rows as JSON to this file")
    parser.add_argument("--nopreempt", action="store_true",
                        help="run keepalived with nopreempt: the VIP stays where it moved")
    parser.add_argument("--keep", action="store_true", help="keep the directory with configurations and logs")
    parser.add_argument("--deadline", type=float, default=240.0,
                        help="seconds after which the run is aborted and torn down (below ctest's timeout)")
    return parser.parse_args()


def skip_or_fail(reason: str, installable: bool = False) -> None:
    """Exits 77 (skipped) saying REASON; under CI a missing tool that CI installs is a failure."""
    if installable and os.environ.get("CI") == "true":
        print(f"test_failover: FAILED: {reason} (CI installs it: scripts/install-deps ha)", flush=True)
        sys.exit(1)
    print(f"test_failover: {reason}; skipped", flush=True)
    sys.exit(SKIP)


def check_prerequisites(args: argparse.Namespace) -> str:
    """Exits when the test cannot run here; returns keepalived's full path."""
    # Debian puts ip and keepalived in /usr/sbin, which a non-root PATH may lack.
    path = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join(path + [d for d in ("/usr/sbin", "/sbin") if d not in path])
    if shutil.which("ip") is None:
        skip_or_fail("needs iproute2's ip (apt-get install iproute2)", installable=True)
    keepalived = shutil.which(args.keepalived)
    if keepalived is None:
        skip_or_fail(f"needs keepalived, not found as {args.keepalived} (apt-get install keepalived)",
                     installable=True)
    if os.geteuid() != 0:
        skip_or_fail("needs root to create network namespaces")
    why = netns.can_create_namespaces()
    if why:
        skip_or_fail(f"cannot create network namespaces here ({why})")
    if not os.path.isfile(args.haven):
        print(f"test_failover: FAILED: no haven binary at {args.haven}", flush=True)
        sys.exit(1)
    return keepalived  # type: ignore[return-value]


class Aborted(Exception):
    pass


def _abort(signum: int, _frame: object) -> None:
    raise Aborted(f"{signal.Signals(signum).name}: tearing down")


def main() -> int:
    args = parse_args()
    keepalived_bin = check_prerequisites(args)
    preempt = not args.nopreempt
    for name in netns.remove_stale_labs():
        print(f"removed namespace {name} left by an earlier run that was killed", flush=True)

    # The binaries and the hook run from a directory only root can write: keepalived's
    # enable_script_security (kept from the recipe) refuses scripts on a path others could
    # change, and a rebuild of haven during the run does not touch this copy.
    workdir = tempfile.mkdtemp(prefix="haven-ha-")
    haven_bin = os.path.join(workdir, "haven")
    shutil.copy2(args.haven, haven_bin)
    notify_hook = os.path.join(workdir, "notify.sh")
    shutil.copy2(NOTIFY_HOOK, notify_hook)
    os.chmod(notify_hook, 0o755)
    print(f"test_failover: haven {args.haven}, keepalived {keepalived_bin}, "
          f"{'preemption' if preempt else 'nopreempt'}, files in {workdir}", flush=True)

    signal.signal(signal.SIGTERM, _abort)
    signal.signal(signal.SIGALRM, _abort)
    signal.alarm(int(args.deadline))
    lab = None
    nodes: list[Node] = []
    client = None
    failures: list[str] = []
    rows: list[dict] = []
    started = time.monotonic()
    try:
        lab = netns.Lab(SUBNET_PREFIX)
        def make_proxy(lab: netns.Lab, host: str) -> HavenProxy:
            return HavenProxy(lab, host, haven_bin, notify_hook, workdir)
        nodes, client = start_pair(lab, workdir, make_proxy, keepalived_bin, preempt)
        rows, unaccounted = run_faults(lab, nodes, client, VIP, preempt=preempt,
                                       log=lambda line: print(line, flush=True))
        for row in rows:
            failures += [f"{row['fault']}: {p}" for p in row_problems(row)]
        if unaccounted:
            failures.append(f"{len(unaccounted)} requests failed outside every fault's window, first: "
                            f"{unaccounted[0]['error']}")

        # The recipe's notify hook wrote each transition into the local haven's event log: node b
        # became MASTER at the first fault, and its haven ran through the whole scenario.
        survivor = nodes[1]
        notes = survivor.proxy.notes()
        if not any("VI_1 is now MASTER" in n for n in notes):
            failures.append(f"no note from keepalived's notify hook saying VI_1 became MASTER in node "
                            f"{survivor.name}'s event log (notes: {notes})")
        total = len(client.snapshot())
        print(f"\n{total} requests at {LOAD_RATE:.0f}/s in {time.monotonic() - started:.0f} s; "
              f"node {survivor.name} logged {len(notes)} notes from keepalived\n", flush=True)
        print(format_table(rows), flush=True)
    except (ScenarioError, netns.LabError, Aborted) as e:
        failures.append(str(e))
    except Exception:  # noqa: BLE001 - reported, then torn down like any failure
        failures.append(traceback.format_exc())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a second SIGTERM must not cut the teardown short
        if client is not None:
            client.stop()
            if failures:   # every request, for the post-mortem
                with open(os.path.join(workdir, "requests.json"), "w", encoding="utf-8") as f:
                    json.dump(client.snapshot(), f)
        if failures:
            for node in nodes:
                print(f"--- keepalived on node {node.name}, last lines:\n{node.keepalived.log_tail()}")
        if lab is not None:
            lab.teardown()
        if args.report:
            with open(args.report, "w", encoding="utf-8") as f:
                json.dump({"proxy": "haven", "preempt": preempt, "rows": rows, "failures": failures}, f, indent=2)
        if not args.keep and not failures:
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print("\ntest_failover: FAILED")
        for failure in failures:
            print(f"  {failure}")
        print(f"  (configurations and logs kept in {workdir})")
        return 1
    print("\ntest_failover: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
