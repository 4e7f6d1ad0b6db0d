"""A daemon thread that runs a job now and then every interval until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``job`` every ``interval_s`` seconds in a daemon thread; a failing run is logged and
    the next one tries again."""

    def __init__(self, name: str, job: Callable[[], Any], interval_s: float) -> None:
        self.name, self.job, self.interval_s = name, job, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the job now and then every interval (no-op when already running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while True:
                try:
                    self.job()
                except Exception:
                    log.exception("%s failed", self.name)
                if self._stop.wait(self.interval_s):
                    return

        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread (waits up to ``timeout`` seconds for a running job)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
