"""The failover scenario: two proxy nodes sharing a floating address through keepalived, a load
client at a fixed rate, and the faults a pair must survive, each measured from the client's side.

The proxy on each node is pluggable (the Proxy protocol below), so that the same faults and the
same measurements apply to haven (tests/ha/test_failover.py) or to another proxy pair in a
benchmark. run_faults() returns one row per fault:

  fault               what was done to the active node
  node                which node was active (and was hit)
  moved_s             seconds from the fault until the first request answered through the other node
  failed              failed requests sent between the fault and that answer (the window)
  failed_after        failed requests sent after the window, until the fault was undone
  failback_s          seconds from undoing the fault until the first request answered through the
                      recovered node again (None without preemption: the VIP stays)
  undo_failed         failed requests from undoing the fault until the pair was steady again
                      (with preemption: while the VIP moved back)
  undo_gap_s          the longest time without a successful answer in that span
  move_p99_ms         the 99th percentile of the time to an outcome (an answer, or the failure)
                      of the requests sent in the window
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from keepalived import Keepalived, NodeSettings
from netns import Lab

HERE = os.path.dirname(os.path.abspath(__file__))

# The lab: one subnet that exists only inside the namespaces (tests/ha/netns.py).
SUBNET_PREFIX = 24
VIP = "172.31.250.100"
CLIENT = ("client", "172.31.250.2")
NODES = [("a", "172.31.250.11", 150), ("b", "172.31.250.12", 100)]   # name, address, keepalived priority
BACKENDS = [("b1", "172.31.250.21"), ("b2", "172.31.250.22")]
BACKEND_PORT = 8080
LOAD_RATE = 50.0             # requests per second, each on a new connection
REQUEST_TIMEOUT = 1.0        # seconds, connecting included

MOVE_TARGET_S = 4.0          # the VIP answers from the other node within this after any fault
SETTLE_TIMEOUT_S = 30.0      # bound of every wait for a state (never a fixed sleep)
OBSERVE_AFTER_MOVE_S = 3.0   # how long the load keeps running on the survivor before the fault is undone
STEADY_REQUESTS = 25         # consecutive good answers through one node that make the pair steady


class Proxy(Protocol):
    """The proxy on one node, as the scenario drives it."""

    health_script: str          # the command keepalived's vrrp_script runs
    health_file: str            # the file keepalived's vrrp_track_file reads ("0": fit)
    notify: str | None          # keepalived's notify command, None for none

    def start(self) -> None: ...            # (re)starts the proxy; returns at once
    def kill(self) -> None: ...             # SIGKILL, no goodbye
    def fail_health(self) -> None: ...      # keeps running, but has nothing to serve (its check fails)
    def restore_health(self) -> None: ...   # undoes fail_health
    def healthy(self) -> bool: ...          # what the health script would say now


@dataclass
class Node:
    name: str                   # "a", "b": also its host name in the lab
    address: str
    priority: int
    proxy: Proxy
    keepalived: Keepalived


class ScenarioError(AssertionError):
    pass


class LoadClient:
    """tests/ha/load_client.py in the client's namespace; its records are collected as they come."""

    def __init__(self, lab: Lab, host: str, url: str, rate: float, timeout: float, log_path: str) -> None:
        self.timeout = timeout
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._log = open(log_path, "w", encoding="utf-8")
        self.proc = lab.start(host, [sys.executable, os.path.join(HERE, "load_client.py"), "--url", url,
                                     "--rate", str(rate), "--timeout", str(timeout)],
                              stdout=subprocess.PIPE, log=self._log)
        self._lab = lab
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.records.append(record)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def stop(self) -> None:
        self._lab.stop(self.proc, grace=5.0)
        self._reader.join(5.0)
        self._log.close()


def wait_for(what: str, condition: Callable[[], object], timeout: float = SETTLE_TIMEOUT_S,
             interval: float = 0.05) -> object:
    """Polls CONDITION until it returns something true; ScenarioError naming WHAT after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Fault:
    name: str
    inject: Callable[["Scenario", Node], None]
    restore: Callable[["Scenario", Node], None]


FAULTS = [
    Fault("proxy killed (SIGKILL)", lambda s, n: n.proxy.kill(), lambda s, n: n.proxy.start()),
    Fault("keepalived stopped", lambda s, n: n.keepalived.stop(), lambda s, n: n.keepalived.start()),
    Fault("link down", lambda s, n: s.lab.set_link(n.name, False), lambda s, n: s.lab.set_link(n.name, True)),
    Fault("proxy health failed", lambda s, n: n.proxy.fail_health(), lambda s, n: n.proxy.restore_health()),
    # Every backend unreachable from the active node only (its checks fail; the other node still
    # reaches them): the node must hand the address over.
    Fault("servers unreachable from the node",
          lambda s, n: [s.lab.set_reachable(n.name, address, False) for _, address in BACKENDS],
          lambda s, n: [s.lab.set_reachable(n.name, address, True) for _, address in BACKENDS]),
]


class Scenario:
    def __init__(self, lab: Lab, nodes: list[Node], client: LoadClient, vip: str, preempt: bool,
                 log: Callable[[str], None] = print) -> None:
        assert len(nodes) == 2
        self.lab = lab
        self.nodes = nodes
        self.client = client
        self.vip = vip
        self.preempt = preempt
        self.log = log
        self._by_address = {n.address: n for n in nodes}
        self._accounted: list[tuple[float, float]] = []    # (from, to) send times covered by a row
        self.measuring_from: float | None = None            # the pair's first steady moment

    def node_of(self, record: dict) -> Node | None:
        return self._by_address.get(record.get("via") or "")

    def holders(self) -> list[Node]:
        return [n for n in self.nodes if self.lab.has_address(n.name, self.vip)]

    def other(self, node: Node) -> Node:
        return self.nodes[1] if node is self.nodes[0] else self.nodes[0]

    def _first_answer_via(self, node: Node, since: float) -> dict | None:
        for record in self.client.snapshot():
            if record["ok"] and record["sent"] >= since and self.node_of(record) is node:
                return record
        return None

    def wait_steady(self, expected: Node | None = None) -> Node:
        """Waits until one node holds the VIP (EXPECTED, when given) as MASTER, the other is a
        healthy BACKUP ready to take over, and the last STEADY_REQUESTS answers all came through the
        holder. Returns the holder."""
        def steady() -> Node | None:
            holders = self.holders()
            if len(holders) != 1 or (expected is not None and holders[0] is not expected):
                return None
            holder = holders[0]
            standby = self.other(holder)
            if holder.keepalived.state() != "MASTER" or standby.keepalived.state() != "BACKUP":
                return None
            if not (holder.proxy.healthy() and standby.proxy.healthy()):
                return None
            recent = self.client.snapshot()[-STEADY_REQUESTS:]
            if len(recent) < STEADY_REQUESTS or not all(r["ok"] and self.node_of(r) is holder for r in recent):
                return None
            return holder
        what = f"the VIP steady on node {expected.name}" if expected else "the VIP steady on one node"
        return wait_for(what, steady, interval=0.2)  # type: ignore[return-value]

    def _failures(self, sent_from: float, sent_to: float) -> list[dict]:
        return [r for r in self.client.snapshot() if not r["ok"] and sent_from <= r["sent"] < sent_to]

    @staticmethod
    def _longest_gap(records: list[dict], start: float, end: float) -> float:
        """The longest time within [START, END] without a successful answer."""
        done = sorted(r["done"] for r in records if r["ok"] and start <= r["done"] <= end)
        marks = [start, *done, end]
        return max(b - a for a, b in zip(marks, marks[1:]))

    @staticmethod
    def _p99_ms(records: list[dict], start: float, end: float) -> float:
        times = sorted(r["done"] - r["sent"] for r in records if start <= r["sent"] <= end and "done" in r)
        if not times:
            return 0.0
        return round(1000 * times[min(len(times) - 1, int(0.99 * len(times)))], 1)

    def run_fault(self, fault: Fault) -> dict:
        active = self.wait_steady(self.nodes[0] if self.preempt else None)
        survivor = self.other(active)
        fault_at = time.monotonic()
        if self.measuring_from is None:
            self.measuring_from = fault_at
        self.log(f"  {fault.name} on node {active.name}")
        fault.inject(self, active)
        moved = wait_for(f"an answer through node {survivor.name} after '{fault.name}'",
                         lambda: self._first_answer_via(survivor, fault_at))
        moved_at = moved["done"]                                     # type: ignore[index]
        # A measuring span, not a wait for a state: the load runs on the survivor, and any failure
        # now counts as failed after the window.
        time.sleep(OBSERVE_AFTER_MOVE_S)
        restore_at = time.monotonic()
        # A request sent just before the fault and still in flight is one of its victims: the window
        # opens one request timeout before the fault.
        window_from = fault_at - self.client.timeout
        failed = self._failures(window_from, moved_at)
        failed_after = self._failures(moved_at, restore_at)

        self.log(f"  undo {fault.name} on node {active.name}")
        fault.restore(self, active)
        failback_s = None
        if self.preempt:
            back = wait_for(f"an answer through node {active.name} again after undoing '{fault.name}'",
                            lambda: self._first_answer_via(active, restore_at))
            failback_s = back["done"] - restore_at                   # type: ignore[index]
            self.wait_steady(active)
        else:
            self.wait_steady(survivor)
        steady_at = time.monotonic()
        records = self.client.snapshot()
        undo_failed = self._failures(restore_at, steady_at)
        self._accounted.append((window_from, steady_at))
        return {
            "fault": fault.name,
            "node": active.name,
            "moved_s": round(moved_at - fault_at, 3),
            "failed": len(failed),
            "failed_after": len(failed_after),
            "failback_s": None if failback_s is None else round(failback_s, 3),
            "undo_failed": len(undo_failed),
            "undo_gap_s": round(self._longest_gap(records, restore_at, steady_at), 3),
            "move_p99_ms": self._p99_ms(records, window_from, moved_at),
            "errors": sorted({r["error"] for r in failed + failed_after + undo_failed}),
        }

    def unaccounted_failures(self) -> list[dict]:
        """Failed requests, once the pair was first steady, outside every fault's measured span:
        there must be none."""
        start = self.measuring_from if self.measuring_from is not None else float("inf")
        return [r for r in self.client.snapshot() if not r["ok"] and r["sent"] >= start
                and not any(a <= r["sent"] < b for a, b in self._accounted)]


def start_pair(lab: Lab, workdir: str, make_proxy: Callable[[Lab, str], Proxy], keepalived_bin: str,
               preempt: bool = True) -> tuple[list[Node], LoadClient]:
    """Builds the lab's hosts, starts the backends, a proxy (MAKE_PROXY(lab, host)) and keepalived
    on each node, and the load client against the VIP. keepalived's configurations are the recipe
    made into each node; keepalived's own check of them (-t) must pass without a word."""
    for host, address in [CLIENT, *BACKENDS, *[(name, address) for name, address, _ in NODES]]:
        lab.add_host(host, address)
    with open(os.path.join(workdir, "backends.log"), "a", encoding="utf-8") as log:
        for name, address in BACKENDS:
            lab.start(name, [sys.executable, os.path.join(HERE, "backend_server.py"), "--name", name,
                             "--bind", address, "--port", str(BACKEND_PORT)], log=log)
    nodes = []
    for name, address, priority in NODES:
        proxy = make_proxy(lab, name)
        peer = next(other for n, other, _ in NODES if n != name)
        settings = NodeSettings(router_id=f"proxy-{name}", address=address, peer=peer, vip=f"{VIP}/{SUBNET_PREFIX}",
                                priority=priority, health_script=proxy.health_script,
                                health_file=proxy.health_file, notify=proxy.notify,
                                nopreempt=not preempt)
        node = Node(name, address, priority, proxy, Keepalived(lab, name, keepalived_bin, workdir, settings))
        if problem := node.keepalived.config_test():
            raise ScenarioError(problem)
        nodes.append(node)
    for node in nodes:
        node.proxy.start()
    # Each keepalived starts once its proxy is healthy, as a node's boot order would have it.
    for node in nodes:
        wait_for(f"the proxy healthy on node {node.name}", node.proxy.healthy)
        node.keepalived.start()
    client = LoadClient(lab, CLIENT[0], f"http://{VIP}/", LOAD_RATE, REQUEST_TIMEOUT,
                        os.path.join(workdir, "load-client.log"))
    return nodes, client


def run_faults(lab: Lab, nodes: list[Node], client: LoadClient, vip: str, preempt: bool = True,
               faults: list[Fault] | None = None, log: Callable[[str], None] = print) -> tuple[list[dict], list[dict]]:
    """Runs each fault against the active node, undoes it, and waits for a steady pair again.
    Returns the rows and the failed requests no fault accounts for."""
    scenario = Scenario(lab, nodes, client, vip, preempt, log)
    rows = [scenario.run_fault(fault) for fault in (faults or FAULTS)]
    return rows, scenario.unaccounted_failures()


# Failback (preemption): the address moves back while requests flow. A connection that the client
# opens at the instant of the move can reach the node that has just let the address go and be
# reset: one or two such requests are the price of VRRP's move, not an outage. An outage is a gap
# without any good answer longer than this, or more failures than MAX_FAILBACK_FAILURES.
MAX_FAILBACK_GAP_S = 0.5
MAX_FAILBACK_FAILURES = 2


def row_problems(row: dict, max_undo_failures: int = MAX_FAILBACK_FAILURES) -> list[str]:
    """What in ROW misses the targets: the VIP answers from the other node within MOVE_TARGET_S,
    no failure after that, and no second outage when the fault is undone (with preemption, when
    the VIP moves back): no gap longer than MAX_FAILBACK_GAP_S and no more than a couple of
    requests caught at the instant of the move."""
    problems = []
    errors = f" ({'; '.join(row.get('errors', [])[:3])})" if row.get("errors") else ""
    if row["moved_s"] > MOVE_TARGET_S:
        problems.append(f"moved after {row['moved_s']:.2f} s, more than {MOVE_TARGET_S:.0f} s")
    if row["failed_after"]:
        problems.append(f"{row['failed_after']} requests failed after the VIP had moved{errors}")
    if row["undo_failed"] > max_undo_failures:
        problems.append(f"{row['undo_failed']} requests failed after the fault was undone{errors}")
    if row["undo_gap_s"] > MAX_FAILBACK_GAP_S:
        problems.append(f"no good answer for {row['undo_gap_s']:.2f} s after the fault was undone: a second outage")
    return problems


def format_table(rows: list[dict]) -> str:
    headers = ["fault", "node", "moved after (s)", "failed", "failed after window",
               "failback (s)", "failed after undo", "longest gap after undo (s)"]
    lines = [[r["fault"], r["node"], f"{r['moved_s']:.2f}", str(r["failed"]), str(r["failed_after"]),
              "-" if r["failback_s"] is None else f"{r['failback_s']:.2f}", str(r["undo_failed"]),
              f"{r['undo_gap_s']:.2f}"] for r in rows]
    widths = [max([len(h), *(len(line[i]) for line in lines)]) for i, h in enumerate(headers)]
    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)])
