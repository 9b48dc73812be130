"""The box-wide post-processors, run in turn on one thread every few seconds.

Each reads durable state after its own cursor (see processors.py), so this
loop can stop at any moment and start again without losing or repeating work.
A failing post-processor is logged and retried on the next tick; it never
stops the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from edge.runtime.processors import PostProcessor

log = logging.getLogger(__name__)


class PostProcessorLoop:
    def __init__(self, processors: Sequence[PostProcessor], *, interval_s: float = 5.0) -> None:
        self.processors = list(processors)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: dict[str, str] = {}  # last error per post-processor, for health

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="post-processors", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run a step now (e.g. a run just closed)."""
        self._wake.set()

    def run_once(self) -> int:
        done = 0
        for p in self.processors:
            try:
                done += p.step()
                self.errors.pop(p.name, None)
            except Exception as exc:  # one broken post-processor must not stop the others or the box
                if self.errors.get(p.name) != str(exc):
                    log.exception("post-processor %s failed; retrying every %.0f s", p.name, self.interval_s)
                self.errors[p.name] = str(exc)
        return done

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self.interval_s)
            self._wake.clear()
