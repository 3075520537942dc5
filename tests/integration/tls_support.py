"""Certificates for TLS tests, made at test time with the openssl command (no key is ever committed).

TestCA(dir) creates a CA; issue() signs server or client certificates with chosen names and
validity (an expired one too, through `openssl ca -startdate/-enddate`). client_context() and
server_context() build Python ssl contexts that trust the CA.
"""
from __future__ import annotations

import os
import ssl
import subprocess
from datetime import datetime, timedelta, timezone


def _openssl(args: list[str], cwd: str) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")


class TestCA:
    """A certificate authority in `directory`; every issued file lands there too."""

    def __init__(self, directory: str, name: str = "haven test CA", key_type: str = "ec"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.key_type = key_type
        self.cert = os.path.join(directory, "ca.pem")
        self.key = os.path.join(directory, "ca.key")
        _openssl(["req", "-x509", *self._new_key_args(), "-nodes", "-keyout", self.key, "-out", self.cert,
                  "-days", "30", "-subj", f"/CN={name}"], directory)
        with open(os.path.join(directory, "index.txt"), "w"):
            pass
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write("1000\n")
        self.config = os.path.join(directory, "ca.cnf")
        with open(self.config, "w") as f:
            f.write(f"""[ ca ]
default_ca = test_ca
[ test_ca ]
database = {directory}/index.txt
new_certs_dir = {directory}
serial = {directory}/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[ any ]
commonName = supplied
""")
        self._count = 0

    def _new_key_args(self, key_type: str | None = None) -> list[str]:
        kind = key_type or self.key_type
        if kind == "rsa":
            return ["-newkey", "rsa:2048"]
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]

    def issue(self, name: str, dns: list[str] | None = None, *, days: float = 20, expired: bool = False,
              client: bool = False, key_type: str | None = None, ip: list[str] | None = None) -> tuple[str, str]:
        """A certificate for `name` (CN) with DNS names `dns` (default [name]) and IP addresses `ip`:
        returns (cert_path, key_path). The cert file holds the certificate then the CA (a chain)."""
        self._count += 1
        base = os.path.join(self.dir, f"{self._count:02d}-{name.replace('*', 'star')}")
        key, csr, cert = base + ".key", base + ".csr", base + ".pem"
        sans = [f"DNS:{d}" for d in (dns if dns is not None else [name])] + [f"IP:{a}" for a in (ip or [])]
        usage = "clientAuth" if client else "serverAuth"
        args = ["req", "-new", *self._new_key_args(key_type), "-nodes", "-keyout", key, "-out", csr,
                "-subj", f"/CN={name}", "-addext", f"extendedKeyUsage={usage}"]
        if sans:
            args += ["-addext", "subjectAltName=" + ",".join(sans)]
        _openssl(args, self.dir)
        now = datetime.now(timezone.utc)
        if expired:
            start, end = now - timedelta(days=10), now - timedelta(days=1)
        else:
            start, end = now - timedelta(hours=1), now + timedelta(days=days)
        _openssl(["ca", "-batch", "-config", self.config, "-cert", self.cert, "-keyfile", self.key, "-in", csr,
                  "-out", cert, "-notext", "-startdate", _stamp(start), "-enddate", _stamp(end)], self.dir)
        with open(cert, "a") as out, open(self.cert) as ca:
            out.write(ca.read())
        return cert, key

    def ocsp_response(self, cert: str) -> str:
        """A DER OCSP response from this CA saying `cert` is good, valid for a day: its path."""
        with open(cert) as f:
            leaf = f.read().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        leaf_path, response = cert + ".leaf.pem", cert + ".ocsp.der"
        with open(leaf_path, "w") as f:
            f.write(leaf)
        _openssl(["ocsp", "-index", os.path.join(self.dir, "index.txt"), "-rsigner", self.cert, "-rkey", self.key,
                  "-CA", self.cert, "-issuer", self.cert, "-cert", leaf_path, "-respout", response, "-ndays", "1"],
                 self.dir)
        return response

    def client_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cert)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx

    def server_context(self, cert: str, key: str, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.cert)
        return ctx
