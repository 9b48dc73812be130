"""Why a network source could not be reached, in words a crew can act on.

GStreamer says "Could not open resource" for a name that does not resolve,
a refused port and a silent host alike (and souphttpsrc only "Internal data
stream error"), so after a failed first connection we ask the network
ourselves: does the name resolve, does anything answer on the port?
"""

from __future__ import annotations

import socket
import urllib.parse

DEFAULT_PORTS = {"rtsp": 554, "rtspt": 554, "rtsps": 322, "http": 80, "https": 443}
CONNECT_TIMEOUT_S = 3.0


def diagnose(uri: str, timeout: float = CONNECT_TIMEOUT_S) -> tuple[str, str] | None:
    """(problem, fix) when the host cannot be reached at all; None when something answers on the port
    (then the server's own answer, e.g. 404, is the thing to report)."""
    try:
        parts = urllib.parse.urlsplit(uri)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not host or port is None:
        return None
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return (f"the host name '{host}' does not resolve",
                "check the spelling of the host name, the box's DNS, or use the camera's IP address")
    except (OSError, UnicodeError):
        return None
    problem: tuple[str, str] | None = None
    for family, kind, proto, _name, address in addresses:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
            return None
        except ConnectionRefusedError:
            problem = (f"connection refused by {host}:{port} (nothing listens on that port)",
                       "check the port in the URL and that the camera or server is running")
        except TimeoutError:
            problem = problem or (f"no answer from {host}:{port} within {timeout:g} s",
                                  "check the address, that the camera is powered and on this network")
        except OSError as exc:
            problem = problem or (f"{host}:{port} is unreachable ({exc.strerror or exc})",
                                  "check the box's network connection and the camera's address")
    return problem
