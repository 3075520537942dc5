"""Health for a floating address or a balancer in front: GET /health on the admin listener (no
token needed; 503 when unhealthy) and `haven ctl health` (exit 0 healthy, 1 not, 3 no answer),
which also connects to every frontend's listener; [admin] healthy_when = "serving" (default) or
"running"."""
import json
import os
import signal
import subprocess
import time

from harness import Haven, Upstream, check, check_eq, haven_path, make_config, new_temp_dir, run, test, wait_until

FAST = {"path": "/healthz", "interval": "200ms", "timeout": "150ms", "rise": 1, "fall": 1}
TOKEN = "health-token-0123456789"


def ctl_health(port: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    env.pop("HAVEN_ADMIN_TOKEN", None)
    started = time.monotonic()
    result = subprocess.run([haven_path(), "ctl", "--admin", f"http://127.0.0.1:{port}", "health"],
                            capture_output=True, text=True, timeout=30, env=env)
    result.elapsed = time.monotonic() - started
    return result


def config(server: Upstream, admin: str) -> str:
    return make_config({"app": {"check": FAST, "servers": [{"name": "s1", "address": server}]}}, extra=admin)


@test
def not_healthy_before_a_check_has_found_a_server_up() -> None:
    """Servers start UP, but /health does not take that on trust: until a check passes, a node
    whose servers are unreachable would take a floating address and answer 503."""
    server = Upstream("hang", name="s1")   # its checks get no answer for a long while
    slow = dict(FAST, interval="30s", timeout="20s")
    haven = Haven(make_config({"app": {"check": slow, "servers": [{"name": "s1", "address": server}]}},
                              extra='[admin]\nbind = "127.0.0.1:0"\n'))
    answer = haven.admin("GET", "/health")
    check_eq(answer.status, 503, f"/health before any check: {answer.raw[:300]!r}")
    check("has passed a check yet" in answer.json()["problems"][0], f"why: {answer.json()}")
    check_eq(ctl_health(haven.admin_port()).returncode, 1, "ctl health before any check")
    # An unchecked server is known by definition: healthy at once.
    plain = Haven(make_config({"app": [Upstream(name="p1")]}, extra='[admin]\nbind = "127.0.0.1:0"\n'))
    check_eq(plain.admin("GET", "/health").status, 200, "/health with an unchecked server")


@test
def health_file_follows_the_verdict_for_keepalived_track_file() -> None:
    """[admin] health_file says 0 while healthy and 1 while not, rewritten as soon as the verdict
    changes (keepalived's track_file then moves the address at once), and 1 when haven stops."""
    server = Upstream(name="s1")
    directory = new_temp_dir("health-file-")
    path = os.path.join(directory, "serving")
    haven = Haven(config(server, f'[admin]\nbind = "127.0.0.1:0"\nhealth_file = "{path}"\n'))

    def says() -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    wait_until(lambda: says() == "0\n", 10, "the health file to say 0")
    check_eq(haven.admin("PATCH", "/api/v1/backends/app/servers/s1", {"state": "maint"}).status, 200, "maint")
    wait_until(lambda: says() == "1\n", 5, "the health file to say 1 with no server to send to")
    haven.wait_event(r"not healthy for a floating address \(frontend web: .*\): .* says 1")
    check_eq(haven.admin("PATCH", "/api/v1/backends/app/servers/s1", {"state": "ready"}).status, 200, "ready")
    wait_until(lambda: says() == "0\n", 10, "the health file to say 0 again")
    haven.terminate()
    check_eq(haven.wait(10), 0, "exit status")
    check_eq(says(), "1\n", "the health file once haven stopped")
    check(not [f for f in os.listdir(directory) if f.endswith(".tmp")], "a temporary file left behind")


@test
def healthy_while_serving_unhealthy_when_every_backend_of_a_frontend_is_down() -> None:
    server = Upstream(name="s1")
    haven = Haven(config(server, f'[admin]\nbind = "127.0.0.1:0"\ntoken = "{TOKEN}"\nread_token_required = true\n'))
    port = haven.admin_port()
    # Healthy once the first check has passed (before it, see the test below).
    wait_until(lambda: ctl_health(port).returncode == 0, 10, "healthy after the first check")
    result = ctl_health(port)
    check_eq((result.returncode, result.stdout.strip()), (0, "healthy: 1 frontend accepting (serving)"), "healthy")
    check(result.elapsed < 2, f"ctl health took {result.elapsed:.2f} s")
    answer = haven.admin("GET", "/health", headers={})   # no token: a balancer sends none
    check_eq(answer.status, 200, "GET /health without the token")
    body = answer.json()
    check_eq((body["healthy"], body["rule"], body["frontends"][0]["serving_backends"]), (True, "serving", 1), "body")

    mark = haven.event_mark()
    server.kill()
    haven.wait_event(r"server app/s1 is DOWN", since=mark)
    result = ctl_health(port)
    check_eq(result.returncode, 1, "unhealthy exit status")
    check("frontend web: none of its 1 backend has a server that may take requests" in result.stdout, result.stdout)
    check_eq(haven.admin("GET", "/health").status, 503, "GET /health while unhealthy")

    server.restart()
    wait_until(lambda: ctl_health(port).returncode == 0, 5, "healthy again")


@test
def running_rule_ignores_the_servers() -> None:
    server = Upstream("refuse", name="s1")
    haven = Haven(config(server, '[admin]\nbind = "127.0.0.1:0"\nhealthy_when = "running"\n'))
    haven.wait_event(r"backend app has no server available")
    result = ctl_health(haven.admin_port())
    check_eq((result.returncode, result.stdout.strip()), (0, "healthy: 1 frontend accepting (running)"), "running")


@test
def no_admin_answer_is_exit_3_and_shutdown_makes_it_unhealthy() -> None:
    server = Upstream(name="s1")
    haven = Haven(config(server, '[admin]\nbind = "127.0.0.1:0"\n'))
    port = haven.admin_port()
    check_eq(ctl_health(port).returncode, 0, "healthy")
    haven.signal(signal.SIGTERM)
    haven.wait(10)
    result = ctl_health(port)
    check_eq(result.returncode, 3, f"after the stop: {result.stdout}")
    check(result.stdout.startswith("unhealthy:"), result.stdout)


@test
def a_listener_that_does_not_accept_is_unhealthy() -> None:
    """ctl health connects to each frontend itself: an admin listener that says healthy is not enough."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]   # nothing listens there once this socket is closed
    body = json.dumps({"healthy": True, "rule": "serving", "problems": [],
                       "frontends": [{"name": "web", "host": "127.0.0.1", "port": closed_port,
                                      "backends": 1, "serving_backends": 1}]}).encode()

    class Fake(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = ctl_health(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    check_eq(result.returncode, 1, f"exit status: {result.stdout}")
    check(f"frontend web on 127.0.0.1:{closed_port} does not accept: Connection refused" in result.stdout,
          result.stdout)


if __name__ == "__main__":
    run()
