"""keepalived for the high-availability tests: each node's configuration is the recipe
conf/keepalived/keepalived.conf with only what differs between sites replaced (addresses, priority,
script paths, the scripts' user), so the test runs the recipe as users get it.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from netns import Lab

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE = os.path.join(REPO_ROOT, "conf", "keepalived", "keepalived.conf")
NOTIFY_HOOK = os.path.join(REPO_ROOT, "conf", "keepalived", "notify.sh")
INSTANCE = "VI_1"


@dataclass
class NodeSettings:
    router_id: str
    address: str            # this node's address: unicast_src_ip
    peer: str               # the other node's: unicast_peer
    vip: str                # with its prefix length, as in virtual_ipaddress: "172.31.250.100/24"
    priority: int
    health_script: str      # the vrrp_script's command line
    health_file: str        # the vrrp_track_file's file (haven's [admin] health_file)
    notify: str | None      # the notify command line, None for no notify hook
    nopreempt: bool = False
    script_user: str = "root"   # the recipe's keepalived_script user need not exist on a test machine


class RecipeMismatch(AssertionError):
    """The recipe no longer has a line the test replaces: fix the test and the recipe together."""


def _replace_once(text: str, pattern: str, replacement: str, what: str) -> str:
    new_text, count = re.subn(pattern, lambda m: m.group(1) + replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise RecipeMismatch(f"{RECIPE}: expected one {what}, found {count}")
    return new_text


def _quote(command: str) -> str:
    if '"' in command:
        raise ValueError(f"a keepalived command line cannot hold a double quote: {command}")
    return f'"{command}"'


def node_config(settings: NodeSettings, recipe_text: str | None = None) -> str:
    """The recipe, made into SETTINGS' node."""
    if recipe_text is None:
        with open(RECIPE, encoding="utf-8") as f:
            recipe_text = f.read()
    text = recipe_text
    value = r"\S+"
    text = _replace_once(text, rf"^(\s*router_id\s+){value}", settings.router_id, "router_id")
    text = _replace_once(text, rf"^(\s*script_user\s+){value}", settings.script_user, "script_user")
    text = _replace_once(text, r'^(\s*script\s+)"[^"]*"', _quote(settings.health_script), "vrrp_script script")
    text = _replace_once(text, r'^(\s*file\s+)"[^"]*"', _quote(settings.health_file), "vrrp_track_file file")
    text = _replace_once(text, rf"^(\s*priority\s+){value}", str(settings.priority), "priority")
    text = _replace_once(text, rf"^(\s*unicast_src_ip\s+){value}", settings.address, "unicast_src_ip")
    text = _replace_once(text, rf"^(\s*unicast_peer\s*\{{\s*\n\s*){value}", settings.peer, "unicast_peer address")
    text = _replace_once(text, rf"^(\s*virtual_ipaddress\s*\{{\s*\n\s*){value}", settings.vip, "virtual_ipaddress")
    if settings.notify is None:
        text = _replace_once(text, r'^(\s*)notify\s+"[^"]*"', "# no notify hook", "notify")
    else:
        text = _replace_once(text, r'^(\s*notify\s+)"[^"]*"', _quote(settings.notify), "notify")
    if settings.nopreempt:
        text = _replace_once(text, r"^(\s*)state BACKUP", "state BACKUP\n    nopreempt", "state BACKUP")
    return text


def config_test(binary: str, path: str) -> str:
    """keepalived's own configuration check (-t): "" when it passes, else what it said."""
    result = subprocess.run([binary, "-t", "-f", path], capture_output=True, text=True, timeout=30)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or output:
        return f"keepalived -t -f {path} exited with {result.returncode}: {output or '(no output)'}"
    return ""


# "(VI_1) Entering MASTER STATE", and "(VI_1) entering FAULT state" for the faults.
_STATE_LINE = re.compile(rf"\({INSTANCE}\) entering (\w+) state", re.IGNORECASE)


class Keepalived:
    """One node's keepalived, VRRP only, in the foreground in the node's namespace; its own pid
    files, so that several run side by side on one machine."""

    def __init__(self, lab: Lab, host: str, binary: str, workdir: str, settings: NodeSettings) -> None:
        self.lab = lab
        self.host = host
        self.binary = binary
        self.settings = settings
        self.config_path = os.path.join(workdir, f"keepalived-{host}.conf")
        self.log_path = os.path.join(workdir, f"keepalived-{host}.log")
        self._pid_files = [os.path.join(workdir, f"keepalived-{host}{suffix}.pid") for suffix in ("", "-vrrp")]
        self.proc: subprocess.Popen | None = None
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(node_config(settings))

    def config_test(self) -> str:
        return config_test(self.binary, self.config_path)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "keepalived already runs"
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write("--- start\n")
            log.flush()
            # -n foreground, -l log to the console (our log file), -G not to syslog, -D details,
            # -P VRRP only (no IPVS checker process).
            self.proc = self.lab.start(self.host, [
                self.binary, "-n", "-l", "-G", "-D", "-P", "-f", self.config_path,
                "-p", self._pid_files[0], "-r", self._pid_files[1]], log=log)

    def stop(self) -> None:
        """SIGTERM: keepalived drops the VIP and sends a priority 0 advert, as `systemctl stop` does."""
        if self.proc is not None:
            self.lab.stop(self.proc, grace=10.0)
            self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def state(self) -> str:
        """The instance's last state in the log (MASTER, BACKUP, FAULT), "STOPPED" when keepalived is
        not running, "" before its first transition."""
        if not self.running():
            return "STOPPED"
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        text = text[text.rfind("--- start\n"):]
        states = _STATE_LINE.findall(text)
        return states[-1].upper() if states else ""

    def log_tail(self, lines: int = 40) -> str:
        """The log's last LINES lines, without the one line per gratuitous ARP sent."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                kept = [line for line in f if "Sending gratuitous ARP on" not in line]
        except OSError:
            return ""
        return "".join(kept[-lines:])
