"""Streaming: 64 MiB bodies pass through both ways, framed by Content-Length or chunked, while
haven's peak memory (VmHWM) stays bounded. Each side pauses after the first MiB so that a proxy
without back-pressure would have to buffer the rest."""
import itertools
import json
import time

from harness import (MiB, Digest, Haven, Request, Upstream, UpstreamConn, check, check_eq,
                     haven_is_sanitized, make_config, note, pattern_blocks, pattern_digest, run, test, wait_until)

TOTAL = 64 * MiB
MAX_HWM_KIB = 48 * 1024
PAUSE = 1.0          # a slow reader: stop reading for a second after the first MiB
CHUNK_SIZES = (MiB, 65536, 7, 100000, 3 * MiB + 5, 1)


def rechunk(blocks, sizes) -> "itertools.Iterator[bytes]":
    """Re-cuts a stream of blocks into chunk-encoded pieces of the given cycling sizes."""
    buf = bytearray()
    size_cycle = itertools.cycle(sizes)
    want = next(size_cycle)
    for block in blocks:
        buf += block
        while len(buf) >= want:
            yield b"%x;n=%d\r\n" % (want, want) + bytes(buf[:want]) + b"\r\n"
            del buf[:want]
            want = next(size_cycle)
    if buf:
        yield b"%x\r\n" % len(buf) + bytes(buf) + b"\r\n"
    yield b"0\r\nX-Trailer: end\r\n\r\n"


def digest_handler(req: Request, conn: UpstreamConn, pause: float = PAUSE) -> bool:
    """Reads the request body (pausing after the first MiB), answers its size and sha256."""
    d = Digest()
    paused = pause <= 0
    for piece in conn.iter_body(req):
        d.update(piece)
        if not paused and d.size >= MiB:
            paused = True
            time.sleep(pause)
    body = json.dumps({"size": d.size, "sha256": d.hexdigest(), "chunked": req.chunked}).encode()
    conn.respond(200, body, [("Content-Type", "application/json")])
    return True


def sender_handler(chunked: bool):
    def handler(req: Request, conn: UpstreamConn) -> bool:
        if chunked:
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in rechunk(pattern_blocks(TOTAL), CHUNK_SIZES):
                conn.send(piece)
        else:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % TOTAL)
            for piece in pattern_blocks(TOTAL):
                conn.send(piece)
        return True
    return handler


def slow_reader_sink(d: Digest):
    paused = [False]

    def sink(piece: bytes) -> None:
        d.update(piece)
        if not paused[0] and d.size >= MiB:
            paused[0] = True
            time.sleep(PAUSE)
    return sink


def check_memory(haven: Haven) -> None:
    hwm = haven.vmhwm_kib()
    note(f"haven VmHWM {hwm} KiB")
    if haven_is_sanitized():
        return  # the sanitizer's shadow memory and quarantine, not haven's buffers, set the peak there
    check(hwm < MAX_HWM_KIB, f"haven VmHWM is {hwm} KiB after a 64 MiB transfer (limit {MAX_HWM_KIB} KiB)")


def upload(chunked: bool) -> None:
    up = Upstream(handler=digest_handler, read_body=False, name="s1")
    haven = Haven(make_config({"static": [up]}))
    with haven.client(timeout=30) as c:
        if chunked:
            c.send(b"POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in rechunk(pattern_blocks(TOTAL), CHUNK_SIZES):
                c.send(piece)
        else:
            c.send(b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % TOTAL)
            for piece in pattern_blocks(TOTAL):
                c.send(piece)
        check(c.send_error is None, f"sending the body failed: {c.send_error!r}")
        resp = c.read_response()
        check_eq(resp.status, 200, "status")
        got = resp.json()
        check_eq(got["size"], TOTAL, "body size at the upstream")
        check_eq(got["sha256"], pattern_digest(TOTAL), "body sha256 at the upstream")
        # The connection is still usable afterwards.
        check_eq(c.request("POST", "/after", body=b"x" * 10).json()["size"], 10, "size of the next body")
    check(not up.errors, f"upstream errors: {up.errors}")
    check_memory(haven)


def download(chunked: bool) -> None:
    up = Upstream(handler=sender_handler(chunked), name="s1")
    haven = Haven(make_config({"static": [up]}))
    with haven.client(timeout=30) as c:
        d = Digest()
        c.send(b"GET /download HTTP/1.1\r\nHost: test\r\n\r\n")
        resp = c.read_response("GET", sink=slow_reader_sink(d))
        check_eq(resp.status, 200, "status")
        check_eq(d.size, TOTAL, "bytes received")
        check_eq(d.hexdigest(), pattern_digest(TOTAL), "sha256 received")
        if not chunked:
            check_eq(resp.headers.get("content-length"), str(TOTAL), "Content-Length forwarded")
        # The connection is still usable afterwards (the response was fully delimited).
        if not resp.until_close:
            d2 = Digest()
            c.send(b"GET /again HTTP/1.1\r\nHost: test\r\n\r\n")
            c.read_response("GET", sink=d2.update)
            check_eq(d2.size, TOTAL, "bytes received the second time")
    check_memory(haven)


@test
def upload_64mib_content_length() -> None:
    upload(chunked=False)


@test
def download_64mib_content_length() -> None:
    download(chunked=False)


@test
def upload_64mib_chunked() -> None:
    upload(chunked=True)


@test
def download_64mib_chunked() -> None:
    download(chunked=True)


@test
def many_medium_bodies_on_one_connection() -> None:
    """Fifty 1 MiB uploads and downloads in turn on one client connection: no framing drift."""
    def handler(req: Request, conn: UpstreamConn) -> bool:
        if req.method == "POST":
            return digest_handler(req, conn, pause=0)
        size = int(req.path.rsplit("/", 1)[1])
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for piece in pattern_blocks(size):
            conn.send(piece)
        return True

    up = Upstream(handler=handler, read_body=False, name="s1")
    haven = Haven(make_config({"static": [up]}))
    with haven.client(timeout=20) as c:
        for i in range(25):
            size = MiB + i * 997
            c.send(b"POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % size)
            for piece in pattern_blocks(size):
                c.send(piece)
            got = c.read_response().json()
            check_eq((got["size"], got["sha256"]), (size, pattern_digest(size)), f"upload {i}")
            d = Digest()
            c.send(b"GET /down/%d HTTP/1.1\r\nHost: test\r\n\r\n" % size)
            c.read_response(sink=d.update)
            check_eq((d.size, d.hexdigest()), (size, pattern_digest(size)), f"download {i}")
    check_eq(up.connections, 1, "upstream connections")


@test
def client_abort_mid_download_releases_upstream() -> None:
    """The client reads 1 MiB of a 64 MiB download and goes away: the upstream's transfer must end
    soon (haven closes or drains it, never buffers it) and haven keeps serving."""
    finished: list[str] = []

    def handler(req: Request, conn: UpstreamConn) -> bool:
        if req.path == "/small":
            conn.respond(200, b"small")
            return True
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % TOTAL)
        try:
            for piece in pattern_blocks(TOTAL):
                conn.send(piece)
            finished.append("sent everything")
        except OSError as e:
            finished.append(f"send failed: {e!r}")
            return False
        return True

    up = Upstream(handler=handler, name="s1")
    haven = Haven(make_config({"static": [up]}))
    c = haven.client(timeout=10)
    c.send(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
    check_eq(c.read_head().status, 200, "status")
    got = 0
    while got < MiB:
        got += len(c.rfile.read1(65536))
    c.close()
    wait_until(lambda: finished, 10, "the upstream's transfer to end after the client left")
    note(f"upstream: {finished[0]}")
    check_eq(haven.get("/small").body, b"small", "next request")
    check_memory(haven)


if __name__ == "__main__":
    run()
