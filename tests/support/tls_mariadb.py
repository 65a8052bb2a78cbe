"""A throwaway MariaDB server that speaks TLS with a certificate of our own CA, for the tests of verified TLS
(the shared server on 3306 has TLS off). Its own data directory and port; gone when the block ends."""

import datetime
import ipaddress
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.waiting import wait_until
from tests.support.certificates import self_signed_ca
from tests.support.ports import free_ports

START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_file: Path  # the CA that signed the server's certificate (for localhost and 127.0.0.1 only)
    impostor_ca_file: Path  # a CA that signed nothing this server presents


def write_ca(directory: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key, cert = self_signed_ca(name)
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def write_server_cert(directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "server-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "server-key.pem").write_bytes(key_pem)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(f"{name} is missing: the TLS tests need MariaDB's server binaries")
    return found


@contextmanager
def tls_mariadb() -> Iterator[TlsServer]:
    with tempfile.TemporaryDirectory(prefix="tls-mariadb-") as tmp:
        root = Path(tmp)
        ca_key, ca = write_ca(root, "ca")
        write_ca(root, "impostor-ca")
        write_server_cert(root, ca_key, ca)
        data = root / "data"
        install = [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=root"]
        subprocess.run(
            [*install, "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        [port] = free_ports(1)
        log = (root / "server.log").open("wb")
        # Loopback only, under two addresses: the certificate names one of them.
        where = [f"--port={port}", "--bind-address=127.0.0.1,127.0.0.2", f"--socket={root / 'sock'}"]
        tls = [f"--ssl-ca={root / 'ca.pem'}", f"--ssl-cert={root / 'server-cert.pem'}"]
        tls.append(f"--ssl-key={root / 'server-key.pem'}")
        small = ["--skip-log-bin", "--innodb-buffer-pool-size=16M", f"--pid-file={root / 'pid'}"]
        server = subprocess.Popen(
            [_binary("mariadbd"), "--no-defaults", "--user=root", f"--datadir={data}", *where, *tls, *small],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: _answers(port), timeout=START_TIMEOUT_SECONDS, what="the TLS MariaDB")
            yield TlsServer(port=port, ca_file=root / "ca.pem", impostor_ca_file=root / "impostor-ca.pem")
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def _answers(port: int) -> bool:
    try:
        pymysql.connect(host="127.0.0.1", port=port, user="root", ssl_disabled=True, connect_timeout=1).close()
    except pymysql.err.OperationalError:
        return False
    return True
