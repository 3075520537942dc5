"""TLS on both sides: HTTPS frontends (SNI, strict SNI, versions, ALPN, resumption across workers,
handshake timeout, HSTS, X-Forwarded-Proto, redirect_https), certificates checked at load and
replaced by a reload, expiry in stats and metrics; TLS to servers (verification, wrong names,
mTLS, session reuse) and HTTPS checks. Certificates come from a test CA made with openssl."""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

from harness import (Client, Haven, Upstream, check, check_eq, down_line, echo_body, fast_check, make_config,
                     new_temp_dir, note, parse_prometheus, run, run_haven, test, wait_until)
from tls_support import TestCA

ADMIN = '[admin]\nbind = "127.0.0.1:0"\n'
_CA = None


def ca() -> TestCA:
    global _CA
    if _CA is None:
        _CA = TestCA(new_temp_dir("tls-ca-"))
    return _CA


def tls_frontend(*certificates: tuple[str, str], **settings) -> dict:
    table = {"certificates": [{"cert": c, "key": k} for c, k in certificates]}
    table.update(settings)
    return table


def s_client(port: int, *args: str, servername: str | None = "localhost", data: bytes = b"") -> str:
    """openssl s_client against 127.0.0.1:port; its whole output (the handshake summary included)."""
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca().cert]
    command += ["-servername", servername] if servername is not None else ["-noservername"]
    proc = subprocess.run([*command, *args], input=data, capture_output=True, timeout=20)
    return proc.stdout.decode("latin-1") + proc.stderr.decode("latin-1")


def peer_subject(output: str) -> str:
    m = re.search(r"subject=(?:CN\s*=\s*)?([^\n/]+)", output)
    return m.group(1).strip() if m else ""


def tls_client(haven: Haven, server_hostname: str = "localhost", session=None, context=None) -> Client:
    return Client(haven.host, haven.port, tls=context or ca().client_context(), server_hostname=server_hostname,
                  session=session)


def rewrite(haven: Haven, text: str) -> None:
    temporary = haven.config_path + ".new"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, haven.config_path)


# ---------------------------------------------------------------------------------------------
# Frontends
# ---------------------------------------------------------------------------------------------

@test
def sni_picks_the_certificate_and_the_first_is_the_default() -> None:
    up = Upstream(name="s1")
    a = ca().issue("a.test")
    b = ca().issue("b.test", ["*.b.test"])
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(a, b)))
    check_eq(peer_subject(s_client(haven.port, servername="a.test")), "a.test", "certificate for SNI a.test")
    check_eq(peer_subject(s_client(haven.port, servername="www.b.test")), "b.test", "certificate for *.b.test")
    check_eq(peer_subject(s_client(haven.port, servername="B.TEST.")), "a.test",
             "b.test itself is not covered by *.b.test: the default")
    check_eq(peer_subject(s_client(haven.port, servername="other.test")), "a.test", "unknown name: the default")
    check_eq(peer_subject(s_client(haven.port, servername=None)), "a.test", "no SNI: the default")
    with tls_client(haven, "x.b.test") as c:
        resp = c.request("GET", "/over-tls")
        check_eq(resp.status, 200, "a request over TLS, certificate verified by the client")
        check_eq(resp.json()["target"], "/over-tls", "forwarded target")


@test
def strict_sni_refuses_names_no_certificate_has() -> None:
    up = Upstream(name="s1")
    a = ca().issue("a.test")
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(a, strict_sni=True)))
    check_eq(peer_subject(s_client(haven.port, servername="a.test")), "a.test", "a known name")
    for name in ("other.test", None):
        out = s_client(haven.port, servername=name)
        check("unrecognized name" in out or "alert" in out, f"SNI {name!r} refused: {out[-400:]}")
        check(peer_subject(out) == "", f"no certificate for SNI {name!r}")


@test
def only_tls_12_and_13_by_default_and_min_version_raises_it() -> None:
    up = Upstream(name="s1")
    cert = ca().issue("localhost")
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(cert)))
    for old in ("-tls1", "-tls1_1"):
        out = s_client(haven.port, old, "-cipher", "DEFAULT@SECLEVEL=0")
        check(peer_subject(out) == "" and ("protocol version" in out or "no protocols available" in out),
              f"{old} refused: {out[-300:]}")
    check("TLSv1.2" in s_client(haven.port, "-tls1_2"), "TLS 1.2 accepted")
    check("TLSv1.3" in s_client(haven.port, "-tls1_3"), "TLS 1.3 accepted")
    haven.stop()
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(cert, min_version="TLSv1.3")))
    check(peer_subject(s_client(haven.port, "-tls1_2")) == "", "TLS 1.2 refused under min_version = TLSv1.3")
    check("TLSv1.3" in s_client(haven.port, "-tls1_3"), "TLS 1.3 accepted")


@test
def alpn_selects_http_1_1() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(ca().issue("localhost"))))
    check("ALPN protocol: http/1.1" in s_client(haven.port, "-alpn", "h2,http/1.1"), "http/1.1 chosen over h2")
    check("No ALPN negotiated" in s_client(haven.port, "-alpn", "h2"), "h2 alone: no ALPN, not a failure")


@test
def an_ocsp_response_is_stapled_when_asked_for() -> None:
    up = Upstream(name="s1")
    stapled = ca().issue("a.test")
    plain = ca().issue("b.test")
    certificates = [{"cert": stapled[0], "key": stapled[1], "ocsp": ca().ocsp_response(stapled[0])},
                    {"cert": plain[0], "key": plain[1]}]
    haven = Haven(make_config({"static": [up]}, tls={"certificates": certificates}))
    out = s_client(haven.port, "-status", servername="a.test")
    check("OCSP Response Status: successful" in out and "Cert Status: good" in out, f"stapled: {out[:600]}")
    out = s_client(haven.port, "-status", servername="b.test")
    check("OCSP response: no response sent" in out, f"no staple for a certificate without one: {out[:600]}")
    directory = new_temp_dir("bad-ocsp-")
    garbage = os.path.join(directory, "garbage.der")
    with open(garbage, "wb") as f:
        f.write(b"not an OCSP response")
    path = os.path.join(directory, "haven.toml")
    with open(path, "w") as f:
        f.write(make_config({"static": [up]}, tls={"certificates": [{"cert": plain[0], "key": plain[1],
                                                                       "ocsp": garbage}]}))
    result = run_haven(["--check", "-c", path])
    check(result.returncode == 1 and "is not a DER OCSP response" in result.stderr, f"refused: {result.stderr!r}")


@test
def sessions_resume_on_any_worker() -> None:
    """Ticket keys are shared: with two workers (SO_REUSEPORT spreads connections over both), every
    resumption succeeds; keys per worker would fail about half of them."""
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(ca().issue("localhost")), global_={"workers": 2},
                              extra=ADMIN))
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        context = ca().client_context()
        context.maximum_version = version
        with tls_client(haven, context=context) as first:
            check_eq(first.request("GET", "/first").status, 200, "first request")
            session = first.sock.session
        resumed = 0
        for i in range(12):
            with tls_client(haven, session=session, context=context) as c:
                check_eq(c.request("GET", f"/again/{i}").status, 200, f"request {i}")
                resumed += 1 if c.sock.session_reused else 0
                session = c.sock.session or session
        check_eq(resumed, 12, f"resumed handshakes out of 12 ({version.name})")
    metrics = parse_prometheus(haven_metrics(haven))
    resumed_total = metrics[("haven_frontend_tls_handshakes_total", (("frontend", "web"), ("result", "resumed")))]
    check_eq(resumed_total, 24.0, "resumed handshakes in /metrics")


@test
def a_resumed_tls13_session_gets_a_new_ticket() -> None:
    """TLS 1.3 clients use a ticket once: a resumed handshake must hand out a new one, or every
    other connection would be a full handshake."""
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(ca().issue("localhost"))))
    directory = new_temp_dir("sessions-")
    previous = None
    for i in range(4):
        session_out = os.path.join(directory, f"s{i}.pem")
        args = ["-sess_out", session_out, "-ign_eof"] + (["-sess_in", previous] if previous else [])
        out = s_client(haven.port, *args, data=b"GET / HTTP/1.0\r\n\r\n")
        check(("Reused, TLSv1.3" if previous else "New, TLSv1.3") in out, f"connection {i}: {out[-400:]}")
        check(os.path.exists(session_out), f"connection {i} got a ticket to resume with")
        previous = session_out


def haven_metrics(haven: Haven) -> str:
    return haven.admin("GET", "/metrics").raw.decode()


@test
def a_client_that_never_finishes_its_handshake_is_closed_and_counted() -> None:
    up = Upstream(name="s1")
    config = make_config({"static": [up]}, tls=tls_frontend(ca().issue("localhost")),
                         timeouts={"tls_handshake": "300ms"}, extra=ADMIN)
    haven = Haven(config)
    silent = socket.create_connection((haven.host, haven.port), timeout=5)
    half = socket.create_connection((haven.host, haven.port), timeout=5)
    half.sendall(b"\x16\x03\x01\x00\xff")  # the start of a ClientHello, never finished
    start = time.monotonic()
    for sock in (silent, half):
        check_eq(sock.recv(100), b"", "closed by haven")
    took = time.monotonic() - start
    check(took < 3.0, f"closed after {took:.2f}s (tls_handshake is 300ms)")
    garbage = socket.create_connection((haven.host, haven.port), timeout=5)
    garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP to a TLS port
    try:
        garbage.recv(100)
    except ConnectionResetError:
        pass
    def counts() -> dict:
        frontend = haven.admin("GET", "/stats.json").json()["frontends"][0]
        return frontend["tls"]["handshakes"]
    wait_until(lambda: counts()["timed_out"] == 2 and counts()["failed"] == 1, 5, "handshake counters")
    metrics = parse_prometheus(haven_metrics(haven))
    check_eq(metrics[("haven_frontend_tls_handshakes_total", (("frontend", "web"), ("result", "timeout")))], 2.0,
             "timeouts in /metrics")


@test
def requests_over_tls_say_https_and_get_hsts() -> None:
    def handler(req, conn) -> bool:
        headers = [("Content-Type", "application/json")]
        if req.target == "/own-hsts":
            headers.append(("Strict-Transport-Security", "max-age=5"))
        conn.respond(200, echo_body(conn.upstream, req, conn), headers)
        return True

    up = Upstream(handler=handler, name="s1")
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(ca().issue("localhost")),
                              frontend={"hsts": "max-age=31536000; includeSubDomains"}))
    with tls_client(haven) as c:
        resp = c.request("GET", "/x")
        check_eq(resp.status, 200, "status")
        check_eq(up.last_request().headers.get("x-forwarded-proto"), "https", "X-Forwarded-Proto")
        check_eq(resp.headers.get("strict-transport-security"), "max-age=31536000; includeSubDomains", "HSTS")
        resp = c.request("GET", "/own-hsts")
        check_eq(resp.headers.get_all("strict-transport-security"), ["max-age=5"], "the server's own HSTS wins")


@test
def havens_own_answers_over_tls_carry_hsts_too() -> None:
    gone = Upstream("refuse", name="s1")
    haven = Haven(make_config({"static": [gone]}, tls=tls_frontend(ca().issue("localhost")),
                              frontend={"hsts": "max-age=600"}))
    with tls_client(haven) as c:
        resp = c.request("GET", "/page", headers=[("Accept", "text/html")])
        check_eq(resp.status, 503, "the maintenance page")
        check_eq(resp.headers.get("strict-transport-security"), "max-age=600", "HSTS on the maintenance page")
    with tls_client(haven) as c:
        c.send(b"GET /bad target HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = c.read_response()
        check_eq(resp.status, 400, "a malformed request")
        check_eq(resp.headers.get("strict-transport-security"), "max-age=600", "HSTS on an error")


@test
def redirect_https_answers_308_to_the_same_url() -> None:
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, frontend={"redirect_https": True, "https_port": 8443}))
    with haven.client() as c:
        resp = c.request("GET", "/a/b?c=1", headers=[("Host", "example.test:8080")])
        check_eq(resp.status, 308, "status")
        check_eq(resp.headers.get("location"), "https://example.test:8443/a/b?c=1", "Location")
        resp = c.request("GET", "/next", headers=[("Host", "[::1]:80")])
        check_eq(resp.headers.get("location"), "https://[::1]:8443/next", "Location for an IPv6 host")
    check_eq(up.traffic(), [], "nothing reached the server")


@test
def bad_certificates_are_refused_where_they_are_named() -> None:
    up = Upstream(name="s1")
    good = ca().issue("localhost")
    expired = ca().issue("old.test", expired=True)
    other = ca().issue("other.test")
    cases = {
        "expired": (tls_frontend(expired), r"certificate .* expired on 20"),
        "mismatched key": (tls_frontend((good[0], other[1])), r"does not belong to certificate"),
        "not a certificate": (tls_frontend((good[1], good[1])), r"holds no PEM certificate"),
        "missing file": (tls_frontend((good[0] + ".missing", good[1])), r"does not exist"),
    }
    for what, (tls, pattern) in cases.items():
        directory = new_temp_dir("bad-tls-")
        path = os.path.join(directory, "haven.toml")
        text = make_config({"static": [up]}, tls=tls)
        with open(path, "w") as f:
            f.write(text)
        line = text.splitlines().index("[frontends.web.tls]") + 2  # the certificates key
        result = run_haven(["--check", "-c", path])
        check_eq(result.returncode, 1, f"--check exit status ({what})")
        check(re.search(rf"haven\.toml:{line}:\d+: .*{pattern}", result.stderr),
              f"{what}: error at line {line}: {result.stderr!r}")


@test
def a_reload_serves_a_new_certificate_to_new_handshakes_only() -> None:
    up = Upstream(name="s1")
    one = ca().issue("localhost", ["localhost", "one.test"])
    two = ca().issue("localhost", ["localhost", "two.test"])
    config = make_config({"static": [up]}, tls=tls_frontend(one), extra=ADMIN)
    haven = Haven(config)
    old = tls_client(haven)
    check_eq(old.request("GET", "/before").status, 200, "request before the reload")
    check("DNS:one.test" in cert_names(haven.port), "first certificate")
    rewrite(haven, config.replace(one[0], two[0]).replace(one[1], two[1]))
    answer = haven.admin("POST", "/api/v1/reload")
    check_eq(answer.status, 200, f"reload: {answer.raw[:300]!r}")
    check("DNS:two.test" in cert_names(haven.port), "new handshakes get the new certificate")
    check_eq(old.request("GET", "/after").status, 200, "the connection made before the reload still works")
    check("one.test" in str(old.sock.getpeercert()), "...with the certificate it started with")
    old.close()
    # A certificate that went bad is refused by a reload; the running one stays.
    expired = ca().issue("localhost", expired=True)
    rewrite(haven, config.replace(one[0], expired[0]).replace(one[1], expired[1]))
    answer = haven.admin("POST", "/api/v1/reload")
    check_eq(answer.status, 422, "reload with an expired certificate refused")
    check("expired" in answer.json()["error"], f"why: {answer.json()['error']}")
    check("DNS:two.test" in cert_names(haven.port), "still the last good certificate")


def cert_names(port: int) -> str:
    out = s_client(port, "-showcerts")
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    check(pem is not None, f"no certificate in {out[-300:]}")
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=pem.group(0).encode(),
                          capture_output=True, timeout=10).stdout.decode()
    return text


@test
def certificate_expiry_is_in_stats_metrics_and_warned() -> None:
    up = Upstream(name="s1")
    soon = ca().issue("localhost", days=5)
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(soon), extra=ADMIN))
    haven.wait_event(r"certificate .* of frontend web expires in [45] days")
    tls = haven.admin("GET", "/stats.json").json()["frontends"][0]["tls"]
    certificate = tls["certificates"][0]
    check_eq(certificate["names"], ["localhost"], "names")
    check(4 * 86400 < certificate["expires_in_s"] <= 5 * 86400, f"expires_in_s {certificate['expires_in_s']}")
    metrics = parse_prometheus(haven_metrics(haven))
    expiry = [v for key, v in metrics.items() if key[0] == "haven_tls_certificate_expiry_seconds"]
    check_eq(len(expiry), 1, "one expiry sample")
    check(abs(expiry[0] - (time.time() + 5 * 86400)) < 7200, f"expiry {expiry[0]} is about 5 days from now")


@test
def haven_ends_tls_connections_with_a_close_notify() -> None:
    """A client told Connection: close must be able to tell the end from a cut: haven sends a
    close_notify before closing (Python reports a close without one as EOF in violation of the
    protocol)."""
    up = Upstream(name="s1")
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(ca().issue("localhost"))))
    raw = socket.create_connection((haven.host, haven.port), timeout=5)
    # suppress_ragged_eofs=False: a close without close_notify raises instead of reading as the end.
    with ca().client_context().wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
        sock.sendall(b"GET /last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ssl.SSLEOFError as e:
            raise AssertionError(f"haven closed without a close_notify after {received[:60]!r}: {e}") from None
        check(received.startswith(b"HTTP/1.1 200"), f"the response: {received[:60]!r}")


@test
def sessions_do_not_resume_under_another_certificate() -> None:
    """A session made with one frontend's certificate does not resume on a frontend with another
    (it would skip that certificate altogether)."""
    up = Upstream(name="s1")
    one = ca().issue("localhost", ["localhost", "one.test"])
    two = ca().issue("localhost", ["localhost", "two.test"])
    other = {"bind": "127.0.0.1:0", "default_backend": "static",
             "tls": {"certificates": [{"cert": two[0], "key": two[1]}]}}
    extra = "[frontends.zz_other]\n" + "\n".join(f"{k} = {json.dumps(v) if isinstance(v, str) else ''}"
                                                 for k, v in other.items() if k != "tls")
    extra += f'\ntls = {{ certificates = [ {{ cert = "{two[0]}", key = "{two[1]}" }} ] }}\n'
    haven = Haven(make_config({"static": [up]}, tls=tls_frontend(one), extra=extra))
    other_port = haven.ports["zz_other"]
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        context = ca().client_context()
        context.maximum_version = version
        with tls_client(haven, context=context) as first:
            check_eq(first.request("GET", "/one").status, 200, "request on the first frontend")
            session = first.sock.session
        with Client(haven.host, haven.port, tls=context, session=session) as again:
            check_eq(again.request("GET", "/one-again").status, 200, "again on the first frontend")
            check(again.sock.session_reused, f"resumed on the same frontend ({version.name})")
        with Client(haven.host, other_port, tls=context, session=session) as c:
            check_eq(c.request("GET", "/two").status, 200, "request on the other frontend")
            check(not c.sock.session_reused, f"not resumed under another certificate ({version.name})")
            check("two.test" in str(c.sock.getpeercert()), "the other frontend's certificate was sent")


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------

def tls_upstream(name: str, dns: list[str], require_client_cert: bool = False, **kwargs) -> Upstream:
    cert, key = ca().issue(dns[0], dns)
    return Upstream(name=name, tls=ca().server_context(cert, key, require_client_cert), **kwargs)


@test
def tls_to_servers_is_verified_by_name() -> None:
    good = tls_upstream("good", ["api.test"])
    wrong = tls_upstream("wrong", ["wrong.test"])
    backends = {"api": {"tls": {"ca_file": ca().cert, "sni": "api.test"},
                        "servers": [{"name": "good", "address": good}, {"name": "wrong", "address": wrong}],
                        "balance": "first", "retries": 0}}
    haven = Haven(make_config(backends, extra=ADMIN))
    resp = haven.get("/api/x")
    check_eq((resp.status, resp.json()["server"]), (200, "good"), "the good server answers over TLS")
    check_eq(good.last_request().headers.get("x-forwarded-proto"), "http", "X-Forwarded-Proto of a plain client")
    haven.stop()
    backends["api"]["servers"] = [{"name": "wrong", "address": wrong}]
    haven = Haven(make_config(backends, extra=ADMIN))
    resp = haven.get("/api/y")
    check_eq(resp.status, 502, "a server whose certificate names another host")
    wait_until(lambda: re.search(r'"GET /api/y HTTP/1.1" 502 .* term=server_tls', haven.access_log()), 5,
               "the access-log line of the 502 (term=server_tls)")
    check_eq(wrong.traffic(), [], "no request reached the untrusted server")
    stats = haven.admin("GET", "/stats.json").json()
    server = stats["backends"][0]["servers"][0]
    check_eq(server["tls"]["handshakes"]["failed"], 1, "failed handshakes of the server")


@test
def https_checks_fail_on_an_untrusted_certificate() -> None:
    good = tls_upstream("good", ["api.test"])
    wrong = tls_upstream("wrong", ["wrong.test"])
    backends = {"api": {"tls": {"ca_file": ca().cert, "sni": "api.test"}, "check": fast_check(fall=1),
                        "servers": [{"name": "good", "address": good}, {"name": "wrong", "address": wrong}]}}
    haven = Haven(make_config(backends))
    haven.wait_event(down_line("api/wrong", r"check: TLS: certificate not trusted: [^)]*[Hh]ostname mismatch[^)]*"))
    wait_until(lambda: len(good.health_checks()) >= 2, 5, "checks of the good server over TLS")
    check("api/good is DOWN" not in haven.events(), "the good server stays UP")
    for i in range(4):
        check_eq(haven.get(f"/api/{i}").json()["server"], "good", f"request {i} goes to the trusted server")


@test
def a_response_cut_without_close_notify_does_not_pass_for_complete() -> None:
    """A TLS server whose TCP connection ends without a close_notify may have been cut (a forged
    FIN): a response delimited by the close is then broken off, never completed."""
    def until_close(req, conn) -> bool:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe first part")
        if req.target.endswith("/clean"):
            conn.sock = conn.sock.unwrap()  # close_notify, then the TCP close
        return False

    cert, key = ca().issue("api.test")
    up = Upstream(name="s", handler=until_close, tls=ca().server_context(cert, key))
    backends = {"api": {"tls": {"ca_file": ca().cert, "sni": "api.test"}, "servers": [{"name": "s", "address": up}],
                        "retries": 0}}
    haven = Haven(make_config(backends))
    with haven.client() as c:
        resp = c.request("GET", "/api/clean")
        check_eq((resp.status, resp.body), (200, b"the first part"), "a close after close_notify ends the body")
    with haven.client() as c:
        c.send(c.build_request("GET", "/api/cut"))
        data = c.wait_closed()
        check(b"the first part" in data, f"the part that came was relayed: {data!r}")
        check(not data.endswith(b"0\r\n\r\n"), f"...but never ended as complete: {data[-40:]!r}")
    wait_until(lambda: re.search(r'"GET /api/cut HTTP/1.1" 200 .* term=server_abort', haven.access_log()), 5,
               "the access-log line of the cut response (term=server_abort)")


@test
def a_reload_that_turns_verification_on_drops_unverified_connections() -> None:
    wrong = tls_upstream("wrong", ["wrong.test"])
    unverified = {"api": {"tls": {"verify": False, "sni": "api.test"}, "servers": [{"name": "w", "address": wrong}],
                          "retries": 0}}
    config = make_config(unverified, extra=ADMIN)
    haven = Haven(config)
    check_eq(haven.get("/api/before").status, 200, "unverified: answered")
    check_eq(wrong.open_connections(), 1, "a pooled connection to the server")
    verified = {"api": {"tls": {"ca_file": ca().cert, "sni": "api.test"}, "servers": [{"name": "w", "address": wrong}],
                        "retries": 0}}
    rewrite(haven, make_config(verified, extra=ADMIN))
    check_eq(haven.admin("POST", "/api/v1/reload").status, 200, "reload")
    check_eq(haven.get("/api/after").status, 502, "verified: the pooled unverified connection is not used")
    check_eq([r.target for r in wrong.traffic()], ["/api/before"], "requests the server took")


@test
def verify_false_accepts_any_certificate() -> None:
    wrong = tls_upstream("wrong", ["wrong.test"])
    backends = {"api": {"tls": {"verify": False, "sni": "api.test"}, "servers": [{"name": "w", "address": wrong}]}}
    haven = Haven(make_config(backends))
    check_eq(haven.get("/api/x").status, 200, "answered without verification")


@test
def mutual_tls_to_a_server_that_requires_a_client_certificate() -> None:
    strict = tls_upstream("strict", ["api.test"], require_client_cert=True)
    client_cert, client_key = ca().issue("haven-client", [], client=True)
    with_cert = {"api": {"tls": {"ca_file": ca().cert, "sni": "api.test", "cert": client_cert, "key": client_key},
                         "servers": [{"name": "s", "address": strict}], "retries": 0}}
    haven = Haven(make_config(with_cert))
    check_eq(haven.get("/api/x").status, 200, "with a client certificate")
    haven.stop()
    without = {"api": {"tls": {"ca_file": ca().cert, "sni": "api.test"}, "servers": [{"name": "s", "address": strict}],
                       "retries": 0}}
    haven = Haven(make_config(without))
    check_eq(haven.get("/api/y").status, 502, "without one the server refuses")
    check_eq([r.target for r in strict.traffic()], ["/api/x"], "requests the server took")


@test
def connections_to_a_tls_server_resume_sessions() -> None:
    def close_after(req, conn) -> bool:
        conn.respond(200, echo_body(conn.upstream, req, conn), [("Connection", "close")])
        conn.upstream.resumed = getattr(conn.upstream, "resumed", 0) + (1 if conn.sock.session_reused else 0)
        return False

    cert, key = ca().issue("api.test")
    up = Upstream(name="s", handler=close_after, tls=ca().server_context(cert, key))
    backends = {"api": {"tls": {"ca_file": ca().cert, "sni": "api.test"}, "servers": [{"name": "s", "address": up}]}}
    haven = Haven(make_config(backends, extra=ADMIN))
    for i in range(5):
        check_eq(haven.get(f"/api/{i}").status, 200, f"request {i}")
    check_eq(up.connections, 5, "one connection per request (the server closes each)")
    check(getattr(up, "resumed", 0) >= 3, f"resumed server sessions: {getattr(up, 'resumed', 0)} of 5")
    server = haven.admin("GET", "/stats.json").json()["backends"][0]["servers"][0]
    note(f"server handshakes: {server['tls']['handshakes']}")
    check(server["tls"]["handshakes"]["resumed"] >= 3, f"handshakes {server['tls']['handshakes']}")


if __name__ == "__main__":
    run()
