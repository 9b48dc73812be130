"""The dashboard's own HTTPS certificate: self-signed, made by the box at its first start.

No certificate authority reaches an event site's LAN, so the box signs its
own and prints the SHA-256 fingerprint: a crew compares it with what the
phone's browser shows before typing a password. The certificate names the
machine's hostname, `localhost`, 127.0.0.1/::1 and the LAN addresses the box
has when it is made. At a new site (new addresses) a new certificate is made
with the same key, and the new fingerprint is printed.

Files: `<data>/tls/dashboard.crt` and `dashboard.key` (0600).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.durable import atomic_replace
from edge.errors import ConfigError

TLS_DIR = "tls"
CERT_FILE = "dashboard.crt"
KEY_FILE = "dashboard.key"
VALID_DAYS = 825  # the longest lifetime Apple devices accept for a server certificate
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Certificate:
    cert_file: Path
    key_file: Path
    fingerprint: str  # SHA-256 of the DER certificate, "AB:CD:..." as browsers show it
    names: tuple[str, ...]  # what the certificate covers (DNS names and IP addresses)
    made: bool  # made now (first start, or the box's addresses changed)


def lan_addresses() -> list[IpAddress]:
    """The machine's own unicast addresses (loopback included), from its network interfaces."""
    import psutil

    found: list[IpAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                ip = ipaddress.ip_address(a.address.split("%")[0])
            except ValueError:
                continue
            if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip in found:
                continue
            found.append(ip)
    return found


def ensure_certificate(data_dir: Path, *, hostname: str | None = None,
                       addresses: list[IpAddress] | None = None) -> Certificate:
    """The certificate to serve, made (or re-made for new addresses) when needed."""
    directory = data_dir / TLS_DIR
    cert_file, key_file = directory / CERT_FILE, directory / KEY_FILE
    hostname = hostname or socket.gethostname()
    addresses = addresses if addresses is not None else lan_addresses()
    dns = sorted({hostname, "localhost"})
    try:
        key = _load_or_make_key(key_file)
        if cert_file.is_file():
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            if _covers(cert, dns, addresses) and _matches(cert, key) and _current(cert):
                return _describe(cert, cert_file, key_file, made=False)
        cert = _make(key, hostname, dns, addresses)
        atomic_replace(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot make the dashboard's HTTPS certificate in {directory}: {exc}",
                          "check that the data directory is writable, or set dashboard.tls: off") from None
    return _describe(cert, cert_file, key_file, made=True)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _load_or_make_key(key_file: Path) -> ec.EllipticCurvePrivateKey:
    if key_file.is_file():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key
    key = ec.generate_private_key(ec.SECP256R1())  # P-256: every phone browser speaks it; fast on a small CPU
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)  # an old copy may have wider permissions
    atomic_replace(key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()), mode=0o600)
    os.chmod(key_file, 0o600)  # the umask must not decide who reads the key
    return key


def _make(key: ec.EllipticCurvePrivateKey, hostname: str, dns: list[str],
          addresses: list[IpAddress]) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edge box (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName([x509.DNSName(d) for d in dns] + [x509.IPAddress(ip) for ip in addresses])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # a box clock a little behind still accepts it
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )


def _names(cert: x509.Certificate) -> tuple[list[str], list[IpAddress]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)


def _covers(cert: x509.Certificate, dns: list[str], addresses: list[IpAddress]) -> bool:
    have_dns, have_ips = _names(cert)
    return set(dns) <= set(have_dns) and set(addresses) <= set(have_ips)


def _matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


def _current(cert: x509.Certificate) -> bool:
    # Re-made a month before it runs out, so a long event never meets an expired certificate.
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    return left > datetime.timedelta(days=30)


def _describe(cert: x509.Certificate, cert_file: Path, key_file: Path, *, made: bool) -> Certificate:
    dns, ips = _names(cert)
    return Certificate(cert_file, key_file, fingerprint(cert), tuple(dns) + tuple(str(ip) for ip in ips), made)
