"""The dashboard's listening socket, taken before anything else, and the addresses a phone can use.

`edge run` binds its port first: a busy port is reported before the box opens
its store or prints a one-time password, and the socket is then handed to
the web server, so nothing can take the port in between.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

import psutil

from edge.errors import EdgeError


def bind_dashboard(host: str, port: int) -> socket.socket:
    """A bound socket for the dashboard, or EdgeError saying the port is busy and how to pick another."""
    if not 0 < port < 65536:
        raise EdgeError(f"dashboard port {port} is not a TCP port", "pick a port from 1 to 65535, e.g. --port 8090")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise EdgeError(f"dashboard address {host!r} does not resolve",
                        "use 0.0.0.0 (every interface) or one of this machine's addresses") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a port left in TIME_WAIT by the previous run is reusable; a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)  # listening holds the port: a second bind fails even with SO_REUSEADDR
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise EdgeError(f"port {port} is already in use on {host} (another edge box or program is listening)",
                            "stop that program, or pick another port: `make run PORT=8090` "
                            "or `edge run --port 8090`") from None
        if exc.errno == errno.EACCES:
            raise EdgeError(f"not allowed to listen on port {port}",
                            "use a port above 1023, e.g. `make run PORT=8090`") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise EdgeError(f"{host} is not an address of this machine",
                            "use 0.0.0.0 (every interface) or one of this machine's addresses") from None
        raise EdgeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", "pick another port") from None
    return sock


def lan_addresses() -> list[str]:
    """Every non-loopback IPv4 address of this machine (what a phone on the site LAN can reach)."""
    found: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(addr.address)
            if not ip.is_loopback and not ip.is_link_local and addr.address not in found:
                found.append(addr.address)
    return found


def dashboard_urls(host: str, port: int, scheme: str = "http") -> list[str]:
    """The URLs to print: this machine, then each LAN address when listening on every interface."""
    if host in {"0.0.0.0", "::", ""}:
        return [f"{scheme}://127.0.0.1:{port}/"] + [f"{scheme}://{ip}:{port}/" for ip in lan_addresses()]
    shown = f"[{host}]" if ":" in host else host
    return [f"{scheme}://{shown}:{port}/"]
