"""A TCP proxy on 127.0.0.1 that limits the uplink (client -> server) to a given rate: a slow link for tests and bench.

Bytes are forwarded in small slices paced by a token bucket with a small
burst, so the rate holds over any interval longer than a slice takes. The
downlink (server -> client) is forwarded as fast as it comes: acks and
replies are small. TCP buffers in front of the proxy still fill, as they do
in front of a real slow uplink.
"""

from __future__ import annotations

import socket
import threading
import time


class ThrottledProxy:
    def __init__(self, upstream_port: int, kbit_s: float, upstream_host: str = "127.0.0.1") -> None:
        self.rate = kbit_s * 1000 / 8  # bytes/s
        self.upstream = (upstream_host, upstream_port)
        self.slice = max(256, min(16384, int(self.rate / 50)))  # ~20 ms of traffic per write
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self.uplink_bytes = 0
        self._thread = threading.Thread(target=self._accept, name="throttle-accept", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> ThrottledProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, limited: bool) -> None:
        tokens, at = 0.0, time.monotonic()
        burst = self.slice
        try:
            while not self._stop.is_set():
                data = src.recv(self.slice if limited else 65536)
                if not data:
                    break
                if limited:
                    view = memoryview(data)
                    while view:
                        now = time.monotonic()
                        tokens = min(burst, tokens + (now - at) * self.rate)
                        at = now
                        need = min(len(view), burst)
                        if tokens < need:
                            time.sleep((need - tokens) / self.rate)
                            continue
                        n = need
                        dst.sendall(view[:n])
                        tokens -= n
                        self.uplink_bytes += n
                        view = view[n:]
                else:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
