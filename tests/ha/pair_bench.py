"""bench/ha's failover part: the faults of tests/ha/test_failover.py, measured for a haven pair and
for an HAProxy pair under the same keepalived configuration (the recipe), in the same run.

HAProxy gets what an operator of an HAProxy pair would give it: HTTP checks of the same backends
(`option httpchk`, the same interval, rise and fall), and, for keepalived's vrrp_script, a
`monitor-uri` that fails when the backend has no usable server (`monitor fail if { nbsrv(app) lt
1 }`), which is the same rule as haven's `healthy_when = "serving"`. "Health failed" puts both
servers in maintenance through its stats socket, as `haven ctl maint` does for haven.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import netns
from keepalived import NOTIFY_HOOK
from scenario import BACKEND_PORT, BACKENDS, VIP, ScenarioError, run_faults, start_pair
from test_failover import HavenProxy

HAPROXY_CONFIG = """\
global
  maxconn 1000
  stats socket {stats} mode 600 level admin

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch

frontend web
  bind 0.0.0.0:80
  monitor-uri /haproxy-health
  monitor fail if {{ nbsrv(app) lt 1 }}
  default_backend app

backend app
  balance roundrobin
  option httpchk GET /healthz
  default-server inter 500ms fall 2 rise 2
{servers}
"""


class HaproxyProxy:
    """HAProxy on one node: started in its namespace, checked through its monitor-uri."""

    def __init__(self, lab: netns.Lab, host: str, workdir: str) -> None:
        self.lab = lab
        self.host = host
        self.stats = os.path.join(workdir, f"haproxy-{host}.sock")
        self.config_path = os.path.join(workdir, f"haproxy-{host}.cfg")
        self.log_path = os.path.join(workdir, f"haproxy-{host}.log")
        self.health_script = "/usr/bin/curl -fsS -m 2 -o /dev/null http://127.0.0.1:80/haproxy-health"
        # HAProxy writes no such file: the recipe's track_file reads one that always says "fit",
        # and only the check script above decides.
        self.health_file = os.path.join(workdir, f"haproxy-{host}.serving")
        with open(self.health_file, "w", encoding="utf-8") as f:
            f.write("0\n")
        self.notify = None
        self.proc: subprocess.Popen | None = None
        servers = "\n".join(f"  server {name} {address}:{BACKEND_PORT} check" for name, address in BACKENDS)
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(HAPROXY_CONFIG.format(stats=self.stats, servers=servers))

    def start(self) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.proc = self.lab.start(self.host, ["haproxy", "-db", "-f", self.config_path], log=log)

    def kill(self) -> None:
        assert self.proc is not None
        self.lab.stop(self.proc, sig=signal.SIGKILL)

    def _command(self, line: str) -> None:
        # A unix socket is reached by its path, whatever network namespace holds HAProxy.
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(self.stats)
            sock.sendall(line.encode() + b"\n")
            while sock.recv(4096):
                pass

    def fail_health(self) -> None:
        for name, _ in BACKENDS:
            self._command(f"disable server app/{name}")

    def restore_health(self) -> None:
        for name, _ in BACKENDS:
            self._command(f"enable server app/{name}")

    def healthy(self) -> bool:
        return self.lab.run(self.host, self.health_script.split()).returncode == 0


def _measure(kind: str, haven: str, keepalived: str) -> list[dict]:
    workdir = tempfile.mkdtemp(prefix=f"haven-ha-bench-{kind}-")
    # As in the test: binaries and the hook from a directory only root can write
    # (enable_script_security).
    haven_bin = os.path.join(workdir, "haven")
    shutil.copy2(haven, haven_bin)
    notify_hook = os.path.join(workdir, "notify.sh")
    shutil.copy2(NOTIFY_HOOK, notify_hook)
    lab = netns.Lab()
    client = None
    try:
        def make_proxy(lab: netns.Lab, host: str):
            if kind == "haven":
                return HavenProxy(lab, host, haven_bin, notify_hook, workdir)
            return HaproxyProxy(lab, host, workdir)
        nodes, client = start_pair(lab, workdir, make_proxy, keepalived)
        rows, unaccounted = run_faults(lab, nodes, client, VIP, log=lambda line: print(f"ha: {kind}: {line.strip()}",
                                                                                      flush=True))
        if unaccounted:
            rows.append({"fault": "outside every fault", "failed": len(unaccounted)})
        return rows
    finally:
        if client is not None:
            client.stop()
        lab.teardown()
        shutil.rmtree(workdir, ignore_errors=True)


def run_and_render(haven, quick: bool) -> list[str]:
    """Both pairs through every fault; the Markdown table."""
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    for name in netns.remove_stale_labs():
        print(f"ha: removed namespace {name} left by an earlier run", flush=True)
    results = {}
    for kind in ("haven", "haproxy"):
        try:
            results[kind] = _measure(kind, str(haven), keepalived)
        except (ScenarioError, netns.LabError) as error:
            results[kind] = [{"fault": f"did not complete: {error}"}]
    lines = [
        "Two nodes and two backends in network namespaces, keepalived 2.2.7 with conf/keepalived's settings "
        "(VRRPv3, advert_int 0.5 s, health checked every second, fall 2, preemption on), a client sending 50 "
        "requests per second, each on a new connection with a 1 s timeout, to the floating address.",
        "",
        "| Pair | fault on the active node | moved after | failed requests | p99 during the move | failback | "
        "failed during failback |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    labels = {"haven": "haven", "haproxy": "HAProxy"}
    for kind, rows in results.items():
        for row in rows:
            if "moved_s" not in row:
                lines.append(f"| {labels[kind]} | {row['fault']} | | {row.get('failed', '')} | | | |")
                continue
            failback = "-" if row["failback_s"] is None else f"{row['failback_s']:.2f} s"
            lines.append(f"| {labels[kind]} | {row['fault']} | {row['moved_s']:.2f} s | {row['failed']} "
                         f"(+{row['failed_after']} after) | {row['move_p99_ms']:,.0f} ms | {failback} | "
                         f"{row['undo_failed']} |")
    lines += ["", "Failed requests are those sent from one request timeout before the fault until the first answer "
              "from the other node; \"after\" counts failures once it answered (there should be none). p99 is over "
              "the requests sent in that window, a failed one counted at the moment it failed."]
    return lines
