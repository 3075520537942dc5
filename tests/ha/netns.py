"""A private network of Linux network namespaces for the high-availability tests.

One namespace per host (client, the two proxy nodes, the backends), each with an `eth0` that is one
end of a veth pair; the other ends are ports of a bridge that lives in a namespace of its own.
Nothing is created in the namespace the tests run in, so the test subnet exists only inside the
lab and no packet can leave it.

Names carry the PID of the process that built the lab (haven-ha-<pid>-<host>): parallel runs do
not collide, and a lab whose builder was killed before it could tear down is recognised and removed
by the next run (remove_stale_labs). Standard library only; needs root (CAP_NET_ADMIN and
CAP_SYS_ADMIN) and iproute2.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from typing import IO, Sequence

NAME_PREFIX = "haven-ha-"
_LAB_NAME = re.compile(r"^haven-ha-(\d+)-[a-z0-9]+$")
BRIDGE_HOST = "switch"


class LabError(RuntimeError):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs iproute2's `ip` with ARGS; raises LabError with its message when it fails."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result


def namespaces() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()]


def _pids_in(namespace: str) -> list[int]:
    result = ip("netns", "pids", namespace, check=False)
    return [int(p) for p in result.stdout.split() if p.isdigit()]


def _kill_namespace_processes(namespace: str) -> None:
    """SIGKILL whatever still runs in NAMESPACE: only processes a lab started live there."""
    for pid in _pids_in(namespace):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_labs() -> list[str]:
    """Deletes the namespaces of labs whose builder process is gone (a run killed with SIGKILL,
    as a test runner's timeout does), with the processes left in them. Returns their names."""
    removed = []
    for name in namespaces():
        match = _LAB_NAME.match(name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        _kill_namespace_processes(name)
        ip("netns", "del", name, check=False)
        removed.append(name)
    return removed


def can_create_namespaces() -> str:
    """"" when this process may create a network namespace, else why not."""
    probe = f"{NAME_PREFIX}{os.getpid()}-probe"
    result = ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return result.stderr.strip() or f"ip netns add exited with {result.returncode}"
    ip("netns", "del", probe, check=False)
    return ""


class Lab:
    """The namespaces, links and processes of one test run; teardown() removes all of them and
    may be called any number of times, from any point of the setup."""

    def __init__(self, subnet_prefix: int = 24) -> None:
        self.tag = f"{NAME_PREFIX}{os.getpid()}"
        self.subnet_prefix = subnet_prefix
        self.hosts: dict[str, str] = {}          # host -> its address on the lab subnet
        self._namespaces: list[str] = []
        self._processes: list[subprocess.Popen] = []
        self._bridge_ns = self.namespace(BRIDGE_HOST)
        self._add_namespace(self._bridge_ns)
        ip("-n", self._bridge_ns, "link", "add", "br0", "type", "bridge")
        # No spanning tree (a single bridge) and no forwarding delay: a port that comes back up
        # forwards at once, as a switch port with portfast does.
        ip("-n", self._bridge_ns, "link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        ip("-n", self._bridge_ns, "link", "set", "br0", "up")

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self._namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, host: str, address: str) -> str:
        """A namespace for HOST with eth0 = ADDRESS on the lab subnet, plugged into the bridge.
        Returns the namespace's name."""
        name = self.namespace(host)
        self._add_namespace(name)
        port = self._port(host)
        ip("-n", self._bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
        ip("-n", self._bridge_ns, "link", "set", port, "master", "br0", "up")
        ip("-n", name, "addr", "add", f"{address}/{self.subnet_prefix}", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        self.hosts[host] = address
        return name

    @staticmethod
    def _port(host: str) -> str:
        return f"p-{host}"[:15]   # interface names are at most 15 bytes

    def set_link(self, host: str, up: bool) -> None:
        """Takes HOST's switch port down or up: for HOST, a pulled cable (eth0 loses its carrier)."""
        ip("-n", self._bridge_ns, "link", "set", self._port(host), "up" if up else "down")

    def set_reachable(self, host: str, address: str, reachable: bool) -> None:
        """Makes ADDRESS unreachable from HOST (a route of type unreachable: connections fail at
        once, as behind a router that lost its way there), or reachable again."""
        ip("-n", self.namespace(host), "route", "add" if not reachable else "del", "unreachable", f"{address}/32")

    def has_address(self, host: str, address: str) -> bool:
        out = ip("-n", self.namespace(host), "-o", "-4", "addr", "show", "dev", "eth0", check=False).stdout
        return re.search(rf"\binet {re.escape(address)}/", out) is not None

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """ARGV run inside HOST's namespace (`ip netns exec` execs it: the PID is ARGV's own)."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def run(self, host: str, argv: Sequence[str], timeout: float = 20.0) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(host, argv), capture_output=True, text=True, timeout=timeout)

    def start(self, host: str, argv: Sequence[str], log: IO | None = None,
              stdout: int | IO | None = None) -> subprocess.Popen:
        """Starts ARGV in HOST's namespace; it is stopped by stop() or teardown()."""
        proc = subprocess.Popen(self.command(host, argv), stdin=subprocess.DEVNULL,
                                stdout=stdout if stdout is not None else (log or subprocess.DEVNULL),
                                stderr=log or subprocess.DEVNULL, start_new_session=True)
        self._processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 5.0) -> int | None:
        """Sends SIG to PROC (one of ours), waits up to GRACE seconds, then SIGKILLs it."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self._processes:
            self._processes.remove(proc)
        return proc.returncode

    def teardown(self) -> None:
        for proc in list(reversed(self._processes)):
            try:
                self.stop(proc, grace=3.0)
            except Exception:  # noqa: BLE001 - teardown goes on whatever one step did
                pass
        # Whatever they left behind (keepalived's children, scripts it ran) is in our namespaces.
        deadline = time.monotonic() + 5.0
        for name in self._namespaces:
            _kill_namespace_processes(name)
        while time.monotonic() < deadline and any(_pids_in(n) for n in self._namespaces):
            time.sleep(0.05)
        # Deleting a namespace deletes its ends of the veth pairs, and with them the bridge ports.
        for name in reversed(self._namespaces):
            ip("netns", "del", name, check=False)
        self._namespaces.clear()
