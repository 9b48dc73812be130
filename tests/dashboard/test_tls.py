"""HTTPS on the LAN: the box makes its own certificate (hostname, LAN addresses, 127.0.0.1), serves the
dashboard over it, prints its SHA-256 fingerprint, and the session cookie is Secure there."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
import ssl
import stat
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from edge.config import BoxConfig
from edge.dashboard.app import create_app, make_server, serve
from edge.dashboard.tls import ensure_certificate
from tests.dashboard.conftest import PASSWORD, LiveServer, stop_server

LAN = ipaddress.ip_address("10.20.30.40")  # stands for the box's address on the crew's LAN


def _san(path: Path) -> tuple[list[str], list[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName), [str(i) for i in san.get_values_for_type(x509.IPAddress)]


def test_the_certificate_names_the_box_its_lan_address_and_loopback(tmp_path):
    cert = ensure_certificate(tmp_path, hostname="truck-7", addresses=[ipaddress.ip_address("127.0.0.1"), LAN])
    dns, ips = _san(cert.cert_file)
    assert {"truck-7", "localhost"} <= set(dns)
    assert {"127.0.0.1", "10.20.30.40"} <= set(ips)
    assert stat.S_IMODE(cert.key_file.stat().st_mode) == 0o600  # the private key: owner only
    der = x509.load_pem_x509_certificate(cert.cert_file.read_bytes()).public_bytes(Encoding.DER)
    assert cert.fingerprint == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())  # as browsers show it


def test_the_certificate_is_kept_across_starts_and_remade_for_a_new_address(tmp_path):
    loopback = [ipaddress.ip_address("127.0.0.1")]
    first = ensure_certificate(tmp_path, hostname="truck-7", addresses=loopback)
    again = ensure_certificate(tmp_path, hostname="truck-7", addresses=loopback)
    assert (again.fingerprint, again.made) == (first.fingerprint, False)
    key = first.key_file.read_bytes()
    moved = ensure_certificate(tmp_path, hostname="truck-7", addresses=[*loopback, LAN])  # a new site's DHCP
    assert moved.made and moved.fingerprint != first.fingerprint
    assert "10.20.30.40" in _san(moved.cert_file)[1]
    assert moved.key_file.read_bytes() == key  # same key: only the certificate changed


@pytest.fixture
def https_site(box, tmp_path):
    """The real app behind real uvicorn with the box's certificate, on 127.0.0.1."""
    cert = ensure_certificate(box.data_dir)
    app = create_app(box, admin_password=PASSWORD)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(app, "127.0.0.1", port, log_level="warning", ssl_certfile=str(cert.cert_file),
                         ssl_keyfile=str(cert.key_file))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the HTTPS dashboard did not start"
        time.sleep(0.02)
    yield cert, f"https://127.0.0.1:{port}"
    stop_server(LiveServer("", server, thread))


def test_the_dashboard_speaks_https_that_verifies_against_its_own_certificate(https_site):
    cert, url = https_site
    # Full verification (chain and name) against the box's certificate, as a phone that trusted it would.
    context = ssl.create_default_context(cafile=str(cert.cert_file))
    with urllib.request.urlopen(url + "/api/health", context=context, timeout=10) as response:
        assert json.load(response)["status"] == "ok"
    host, port = url.removeprefix("https://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        seen = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest().upper()
    assert seen == cert.fingerprint.replace(":", "")  # what the terminal prints is what the phone sees


def test_the_session_cookie_is_secure_over_https(https_site):
    cert, url = https_site
    context = ssl.create_default_context(cafile=str(cert.cert_file))
    request = urllib.request.Request(url + "/api/login", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"username": "admin", "password": PASSWORD}).encode())
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_serve_makes_the_certificate_by_default_and_prints_its_fingerprint(tmp_path, capsys):
    box = SimpleNamespace(data_dir=tmp_path, config=BoxConfig(), store=SimpleNamespace(root=tmp_path / "store"),
                          started_at=time.time())
    app = create_app(box, admin_password=PASSWORD)  # type: ignore[arg-type]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Off the main thread serve() installs no signal handlers; app.state.server stops it.
    thread = threading.Thread(target=serve, args=(box, "127.0.0.1", port), kwargs={"app": app, "log_level": "warning"},
                              daemon=True)
    thread.start()
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # checked by fingerprint below
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/health", context=insecure, timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline and thread.is_alive(), "no HTTPS answer from serve()"
                time.sleep(0.05)
    finally:
        if hasattr(app.state, "server"):
            app.state.server.should_exit = True
        thread.join(10)
    made = ensure_certificate(tmp_path)  # the one serve() made (addresses unchanged: kept)
    assert not made.made
    assert f"fingerprint is {made.fingerprint}" in capsys.readouterr().err
    assert app.state.tls_fingerprint == made.fingerprint  # the settings page shows it too


@pytest.mark.parametrize(("written", "meant"), [("off", "off"), ("auto", "auto"), ('"off"', "off")])
def test_tls_off_in_the_config_file_means_plain_http(tmp_path, written, meant):
    from edge.config import load_config

    config = tmp_path / "box.yaml"
    config.write_text(f"dashboard: {{tls: {written}}}\n")  # YAML 1.1 reads a bare off as false
    assert load_config(config).dashboard.tls == meant
