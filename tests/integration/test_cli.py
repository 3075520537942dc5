"""Command line: --check (summary or FILE:LINE:COL errors), --version, --help, bad start-up."""
import os
import re
import socket
import subprocess
import tempfile

from harness import (REPO_ROOT, check, check_eq, haven_path, make_config, new_temp_dir, note, run, run_haven,
                     test)

HEADER = """[global]
workers = 1

[frontends.web]
bind = "127.0.0.1:0"
"""


def write(text: str, name: str = "haven.toml") -> str:
    path = os.path.join(new_temp_dir("cli-"), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def output(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout or "") + (proc.stderr or "")


def mentions_count(text: str, n: int, word: str) -> bool:
    """"2 backends", "backends: 2", "backends=2", "2 backend(s)"..."""
    return bool(re.search(rf"\b{n}\s+{word}(s|\(s\))?\b|\b{word}s?\b\s*[:=]?\s*{n}\b", text, re.I))


def good_config() -> str:
    return make_config({
        "api": {"balance": "roundrobin", "retries": 2, "servers": [
            {"name": "a1", "address": "127.0.0.1:9"}, {"name": "a2", "address": "127.0.0.1:10", "weight": 3}]},
        "static": [{"name": "s1", "address": "127.0.0.1:11"}],
    })


def check_rejected(text: str, line: int, message_hint: str | None = None) -> None:
    path = write(text)
    proc = run_haven(["--check", "-c", path])
    out = output(proc)
    check_eq(proc.returncode, 1, f"exit code of --check on a bad config (output: {out!r})")
    m = re.search(rf"{re.escape(path)}:(\d+):(\d+): (\S.*)", out)
    check(m is not None, f"no '{path}:LINE:COL: message' in output: {out!r}")
    check_eq(int(m.group(1)), line, f"line in {m.group(0)!r}")
    check(int(m.group(2)) >= 1, f"column in {m.group(0)!r}")
    if message_hint:
        check(re.search(message_hint, m.group(3), re.I), f"message {m.group(3)!r} does not mention {message_hint!r}")


@test
def check_good_config_prints_summary() -> None:
    path = write(good_config())
    proc = run_haven(["--check", "-c", path])
    out = output(proc)
    check_eq(proc.returncode, 0, f"exit code (output: {out!r})")
    check(mentions_count(out, 1, "frontend"), f"summary does not say 1 frontend: {out!r}")
    check(mentions_count(out, 2, "backend"), f"summary does not say 2 backends: {out!r}")
    check(mentions_count(out, 3, "server"), f"summary does not say 3 servers: {out!r}")


@test
def check_does_not_bind() -> None:
    """--check validates; it must not need the listening port to be free."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        text = good_config().replace('bind = "127.0.0.1:0"', f'bind = "127.0.0.1:{port}"')
        proc = run_haven(["--check", "-c", write(text)])
        check_eq(proc.returncode, 0, f"exit code (output: {output(proc)!r})")
    finally:
        holder.close()


@test
def check_route_to_missing_backend() -> None:
    text = HEADER + """default_backend = "static"
routes = [
  { path_prefix = "/api", backend = "nope" },
]

[backends.static]
servers = [ { name = "s1", address = "127.0.0.1:9" } ]
"""
    check_rejected(text, 8, "nope")


@test
def check_missing_default_backend() -> None:
    text = HEADER + """default_backend = "missing"

[backends.static]
servers = [ { name = "s1", address = "127.0.0.1:9" } ]
"""
    check_rejected(text, 6, "missing")


@test
def check_toml_syntax_error() -> None:
    text = """[global]
workers = 1

[frontends.web]
bind = "127.0.0.1:0
default_backend = "static"

[backends.static]
servers = [ { name = "s1", address = "127.0.0.1:9" } ]
"""
    check_rejected(text, 5)


@test
def check_bad_duration() -> None:
    text = HEADER + """default_backend = "static"

[timeouts]
connect = "2 parsecs"

[backends.static]
servers = [ { name = "s1", address = "127.0.0.1:9" } ]
"""
    check_rejected(text, 9)


@test
def check_bad_server_address() -> None:
    text = HEADER + """default_backend = "static"

[backends.static]
servers = [
  { name = "s1", address = "127.0.0.1:9" },
  { name = "s2", address = "not an address" },
]
"""
    check_rejected(text, 11)


@test
def check_unknown_balance() -> None:
    text = HEADER + """default_backend = "static"

[backends.static]
balance = "random-ish"
servers = [ { name = "s1", address = "127.0.0.1:9" } ]
"""
    check_rejected(text, 9, "balance|random-ish")


@test
def check_weight_out_of_range() -> None:
    text = HEADER + """default_backend = "static"

[backends.static]
servers = [
  { name = "s1", address = "127.0.0.1:9", weight = 300 },
]
"""
    check_rejected(text, 10, "weight")


@test
def check_missing_file() -> None:
    path = os.path.join(new_temp_dir("cli-"), "does-not-exist.toml")
    proc = run_haven(["--check", "-c", path])
    check_eq(proc.returncode, 1, "exit code")
    check(path in output(proc), f"output does not name the file: {output(proc)!r}")


@test
def start_with_bad_config_exits_1() -> None:
    path = write(HEADER + 'default_backend = "nope"\n\n[backends.static]\n'
                 'servers = [ { name = "s1", address = "127.0.0.1:9" } ]\n')
    proc = run_haven(["-c", path], timeout=10)
    check_eq(proc.returncode, 1, f"exit code (output: {output(proc)!r})")
    check(re.search(rf"{re.escape(path)}:\d+:\d+: ", output(proc)), f"no FILE:LINE:COL error: {output(proc)!r}")


@test
def version() -> None:
    proc = run_haven(["--version"])
    check_eq(proc.returncode, 0, "exit code")
    out = output(proc)
    with open(os.path.join(REPO_ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(haven\s+VERSION\s+([0-9][0-9.]*)", f.read())
    expected = m.group(1) if m else None
    check(re.search(r"\d+\.\d+\.\d+", out), f"no version number in {out!r}")
    if expected:
        check(expected in out, f"version {expected} (CMakeLists.txt) not in {out!r}")


@test
def help() -> None:
    proc = run_haven(["--help"])
    check_eq(proc.returncode, 0, "exit code")
    out = output(proc)
    check("-c" in out and "--check" in out, f"--help does not describe -c and --check: {out!r}")


@test
def unknown_option_fails_cleanly() -> None:
    proc = run_haven(["--no-such-option"])
    check(proc.returncode > 0, f"exit code {proc.returncode} for an unknown option")
    check(output(proc).strip(), "no message for an unknown option")


def _repo_config_case(name: str):
    def case() -> None:
        path = os.path.join(REPO_ROOT, "conf", name)
        check(os.path.isfile(path), f"{path} does not exist")
        proc = run_haven(["--check", "-c", path], cwd=REPO_ROOT)
        check_eq(proc.returncode, 0, f"--check {path} (output: {output(proc)!r})")
    case.__name__ = f"repo_conf_{name.replace('.', '_')}_passes_check"
    return case


test(_repo_config_case("haven.toml"))
test(_repo_config_case("demo.toml"))


@test
def install_puts_binary_unit_man_page_and_examples_in_place() -> None:
    build_dir = os.path.dirname(os.path.abspath(haven_path()))
    if not os.path.isfile(os.path.join(build_dir, "cmake_install.cmake")):
        note("not a CMake build directory: skipped")
        return
    with tempfile.TemporaryDirectory() as prefix:
        result = subprocess.run(["cmake", "--install", build_dir, "--prefix", prefix], capture_output=True, text=True,
                                timeout=60)
        check_eq(result.returncode, 0, f"cmake --install: {result.stderr}")
        for path in ["bin/haven", "lib/systemd/system/haven.service", "share/man/man1/haven.1",
                     "share/doc/haven/examples/haven.toml", "share/doc/haven/examples/demo.toml",
                     "share/haven/maintenance.html", "share/doc/haven/admin-api.md"]:
            check(os.path.isfile(os.path.join(prefix, path)), f"{path} installed")
        with open(os.path.join(prefix, "lib/systemd/system/haven.service")) as f:
            unit = f.read()
        check("@" not in unit.replace("@system-service", ""), "every placeholder of the unit filled in")
        for line in ["ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE"]:
            check(line in unit, f"the unit has {line}")
        version = subprocess.run([os.path.join(prefix, "bin/haven"), "--version"], capture_output=True, text=True)
        check(version.stdout.startswith("haven "), f"the installed binary runs: {version.stdout!r}")


if __name__ == "__main__":
    run()
