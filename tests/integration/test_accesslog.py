"""Access log (stdout) and event log (stderr), text and JSON formats."""
import json
import os

from harness import Haven, Upstream, check, check_eq, make_config, new_temp_dir, run, test, wait_until


def start(fmt: str) -> tuple[Upstream, Upstream, Haven]:
    api = Upstream(name="a1")
    static = Upstream(name="s1")
    return api, static, Haven(make_config({"api": [api], "static": [static]}, log={"format": fmt}))


@test
def text_access_log_line_per_request() -> None:
    api, static, haven = start("text")
    check_eq(haven.get("/api/logged?q=1").status, 200, "status")
    lines = haven.wait_access_lines(1)
    check_eq(len(lines), 1, f"access log lines after one request: {lines}")
    line = lines[0]
    for needle in ("web", "api/a1", "200", "/api/logged"):
        check(needle in line, f"{needle!r} missing from access log line {line!r}")
    check_eq(haven.get("/index.html").status, 200, "status")
    lines = haven.wait_access_lines(2)
    check_eq(len(lines), 2, f"access log lines after two requests: {lines}")
    for needle in ("web", "static/s1", "200", "/index.html", "GET"):
        check(needle in lines[1], f"{needle!r} missing from access log line {lines[1]!r}")


@test
def text_access_log_records_error_status() -> None:
    refused = Upstream("refuse", name="a1")
    static = Upstream(name="s1")
    haven = Haven(make_config({"api": [refused], "static": [static]}))
    status = haven.get("/api/down").status
    check(status >= 500, f"status {status}")
    line = haven.wait_access_lines(1)[-1]
    check(str(status) in line and "/api/down" in line and "web" in line, f"access log line {line!r}")


@test
def json_access_log() -> None:
    api, static, haven = start("json")
    check_eq(haven.get("/api/json-logged", headers=[("User-Agent", 'agent "quoted" \\ x')]).status, 200, "status")
    check_eq(haven.get("/", method="HEAD").status, 200, "status")
    lines = haven.wait_access_lines(2)
    check_eq(len(lines), 2, f"access log lines: {lines}")
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError as e:
            raise AssertionError(f"access log line is not JSON ({e}): {line!r}") from None
    first, second = entries
    for key in ("status", "frontend", "backend", "server"):
        check(key in first, f"key {key!r} missing from {first}")
    check_eq(int(first["status"]), 200, "status")
    check_eq(first["frontend"], "web", "frontend")
    check_eq(first["backend"], "api", "backend")
    check_eq(first["server"], "a1", "server")
    check("/api/json-logged" in json.dumps(first), f"path missing from {first}")
    check_eq((second["backend"], second["server"], int(second["status"])), ("static", "s1", 200), "second entry")


@test
def json_event_log_lines_parse() -> None:
    api, static, haven = start("json")
    haven.get("/")
    events = [line for line in haven.events().splitlines() if line.strip()]
    check(events, "no event log lines")
    for line in events:
        try:
            json.loads(line)
        except ValueError as e:
            raise AssertionError(f"event log line is not JSON ({e}): {line!r}") from None
    check(any("listening on" in line for line in events), "no 'listening on' event")


@test
def access_log_off() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, log={"access": "off"}))
    check_eq(haven.get("/quiet").status, 200, "status")
    check_eq(haven.get("/quiet2").status, 200, "status")
    rc = haven.stop()
    check_eq(rc, 0, "exit code")
    check_eq(haven.access_log(), "", "stdout with access = off")


@test
def access_log_to_file() -> None:
    up = Upstream(name="s1")
    path = os.path.join(new_temp_dir("log-"), "access.log")
    haven = Haven(make_config({"static": [up]}, log={"access": path}))
    check_eq(haven.get("/to-file").status, 200, "status")

    def read() -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""
    wait_until(lambda: "/to-file" in read(), 5, "the request in the access log file")
    check("/to-file" not in haven.access_log(), "access line also written to stdout")


if __name__ == "__main__":
    run()
