"""The live demo: a daemon thread that, every tick, sends what the sensors reported since the
last tick. Time comes from the injected clock, so the messages depend only on the seed and the
sequence of clock readings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from citybrain.demo.messages import MessageFactory
from citybrain.hub.stream.batcher import StreamMessage
from citybrain.kernel.clock import Clock

log = logging.getLogger(__name__)
MAX_CATCH_UP = timedelta(hours=6)  # after a long pause, send at most this much history


class DemoCity:
    """Simulated sensors streaming into ``offer`` every ``tick_s`` seconds (real time).

    Each tick reads the clock once and sends every report due in ``(last tick, now]``: the
    traffic detectors every two minutes, air stations every five, the late car-park operator
    about every twenty (its two silent car parks never, from ``silent_from`` on, which defaults
    to the first clock reading). ``since`` continues a back-fill without a gap or repeat.
    """

    def __init__(
        self,
        offer: Callable[[StreamMessage], bool],
        *,
        seed: int,
        clock: Clock,
        tick_s: float = 10.0,
        since: datetime | None = None,
        silent_from: datetime | None = None,
    ) -> None:
        self.offer = offer
        self.clock = clock
        self.tick_s = tick_s
        self.factory = MessageFactory(seed)
        self._last = since
        self._silent_from = silent_from
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.refused = 0

    def tick(self) -> int:
        """Send the reports due since the previous tick; returns how many messages went out."""
        now = self.clock()
        if self._last is None:
            self._last = now
        if self._silent_from is None:
            self._silent_from = self._last
        after = max(self._last, now - MAX_CATCH_UP)
        count = 0
        for message in self.factory.between(after, now, self._silent_from):
            if self.offer(message):
                self.sent += 1
            else:
                self.refused += 1
            count += 1
        self._last = max(self._last, now)
        return count

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a failing collector must not kill the simulation
                log.exception("demo city tick failed")
            self._stop.wait(self.tick_s)

    def start(self) -> None:
        """Start the daemon thread (its first tick runs at once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="citybrain-demo", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()
