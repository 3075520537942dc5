"""Load at a fixed rate against the floating address, run inside the client's namespace.

Every 1/RATE seconds a request starts on a new connection, whatever became of the previous ones
(a failover must not slow the load down, or it would hide failures). Each finished request is one
JSON line on stdout:
  {"sent": T, "done": T, "ok": true|false, "status": 200|null, "via": "ADDRESS"|null, "error": "..."}
T is CLOCK_MONOTONIC, the same clock in every process of the machine, so the test that injects the
faults compares its own times with these. `via` is the proxy node that forwarded the request (the
backend names the peer that connected to it). SIGTERM stops it after the requests in flight.

Usage: python3 load_client.py --url http://172.31.250.100/ --rate 50 --timeout 1
"""
from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
import time
import urllib.parse

_out_lock = threading.Lock()


def one_request(host: str, port: int, path: str, timeout: float) -> None:
    sent = time.monotonic()
    record: dict = {"sent": sent, "ok": False, "status": None, "via": None, "error": ""}
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        record["status"] = response.status
        if response.status == 200 and body.startswith("backend ") and " via " in body:
            record["ok"] = True
            record["via"] = body.split(" via ", 1)[1].strip()
        else:
            record["error"] = f"status {response.status}: {body[:80]!r}"
    except (OSError, http.client.HTTPException) as e:
        record["error"] = f"{type(e).__name__}: {e}"
    finally:
        conn.close()
    record["done"] = time.monotonic()
    line = json.dumps(record)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per request, connect included")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    host, port, path = url.hostname, url.port or 80, url.path or "/"

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    workers: list[threading.Thread] = []
    while not stopping.is_set():
        worker = threading.Thread(target=one_request, args=(host, port, path, args.timeout), daemon=True)
        worker.start()
        workers.append(worker)
        workers = [w for w in workers if w.is_alive()]
        # Fixed times (not "interval after the last one"): a late tick does not shift the others.
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            stopping.wait(delay)
        elif delay < -1.0:
            next_at = time.monotonic()   # the machine stalled: start again from now, no burst
    for worker in workers:
        worker.join(args.timeout + 1.0)


if __name__ == "__main__":
    main()
