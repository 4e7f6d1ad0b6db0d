"""The quality monitor: a daemon thread that scores every dataset each interval, keeps the
round as history (one ledger entry per round) and announces new alerts on the event bus."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta
from typing import ClassVar

from citybrain.hub.quality import service
from citybrain.hub.quality.models import QualityAlert
from citybrain.hub.quality.rules import DEFAULT_THRESHOLD, DEFAULT_WINDOW
from citybrain.kernel.events import Event, EventBus
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime

log = logging.getLogger(__name__)

GATE_ACTIONS: dict[str, str] = {
    "quality.compute": "use",  # run a scoring round (reads hub data, writes scores)
    "quality.read": "access",  # a dataset's scores with their evidence, its alerts
    "quality.open": "access",  # latest scores (no evidence) of open-data datasets
    "quality.list": "access",  # list scores or alerts; rows are filtered per dataset
    "quality.ack": "admin",  # acknowledge an alert
}


def register_gate_actions() -> None:
    """Declare the quality gate actions (idempotent)."""
    for name, category in GATE_ACTIONS.items():
        register_action(name, category)


class QualityAlertRaised(Event):
    """A dataset's score fell below its threshold (raised once until the score recovers)."""

    topic: ClassVar[str] = "hub.quality.alert_raised"
    alert_id: int
    dataset: str
    provider: str
    dimension: str
    score: int
    threshold: int
    message_zh: str
    message_en: str
    round_id: str


def publish_alerts(bus: EventBus, alerts: list[QualityAlert]) -> None:
    """Announce newly raised alerts (after their round committed)."""
    for a in alerts:
        bus.publish(
            QualityAlertRaised(
                ts=a.created_at,
                alert_id=a.id,
                dataset=a.dataset,
                provider=a.provider,
                dimension=a.dimension,
                score=a.score,
                threshold=a.threshold,
                message_zh=a.message_zh,
                message_en=a.message_en,
                round_id=a.round_id,
            )
        )


def new_round_id() -> str:
    """A fresh round id."""
    return uuid.uuid4().hex


class QualityMonitor:
    """Runs ``run_once`` every ``interval_s`` seconds in a daemon thread until ``stop``.

    Run one monitor per deployment (a second would compute the same rounds twice; the unique
    index on unresolved alerts makes the loser's round fail and retry, never double-alert).
    """

    def __init__(
        self,
        runtime: Runtime,
        interval_s: float = 60.0,
        *,
        window: timedelta = DEFAULT_WINDOW,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        self.runtime = runtime
        self.interval_s = interval_s
        self.window = window
        self.threshold = threshold
        self.last: service.RoundResult | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> service.RoundResult:
        """Score every dataset at ``now`` (default: the runtime's clock), store the round as one
        ledgered system action, then publish the alerts it raised."""
        rt = self.runtime
        register_gate_actions()
        now = now or rt.clock()
        round_id = new_round_id()
        # Measure in a read-only session (on SQLite it takes no write lock), then store.
        with rt.reader() as session:
            cards = service.compute_round(session, now, window=self.window)
        res = Resource("QualityRound", round_id, rt.settings.city_code)
        with rt.gate.system(
            SYSTEM_ACTOR,
            rt.settings.city_code,
            "quality.compute",
            res,
            request_id=f"quality-{round_id[:20]}",
            purpose=f"quality round: {len(cards) // 4} datasets",
        ) as session:
            result = service.store_round(
                session, cards, round_id=round_id, computed_at=now, threshold=self.threshold
            )
        publish_alerts(rt.bus, result.raised)
        self.last = result
        return result

    def start(self) -> None:
        """Run a round now and then every ``interval_s`` seconds."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while True:
                try:
                    self.run_once()
                except Exception:  # keep the monitor alive; the next round tries again
                    log.exception("quality round failed")
                if self._stop.wait(self.interval_s):
                    return

        self._thread = threading.Thread(target=loop, name="quality-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread (waits up to ``timeout`` seconds for a running round)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
