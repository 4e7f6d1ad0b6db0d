"""What runs beside the HTTP server in ``citybrain up``/``serve``: the ledger checkpointer and
verifier, the subscription notifier, the provider-quality monitor, the entity stream collectors
(in process, and MQTT/NATS when configured), governance's jobs (share-request SLA, retention),
the supervision detector and, by default, the demo city with its live traffic grid (a SUMO
child process).

One object starts them in order and stops them in reverse, so nothing is left running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from rich.console import Console

from citybrain.governance.jobs import governance_jobs
from citybrain.governance.privacy.watch import start_pii_watch
from citybrain.governance.supervision.detector import DetectorService
from citybrain.hub.entities.notifier import Notifier
from citybrain.hub.entities.stream_sink import EntityStreamSink
from citybrain.hub.quality.monitor import QualityMonitor
from citybrain.hub.stream.batcher import MicroBatcher, StreamMessage
from citybrain.hub.stream.service import SqlDeadLetterStore
from citybrain.kernel.runtime import Runtime
from citybrain.kernel.status import LedgerVerifier, PeriodicCheckpointer

log = logging.getLogger(__name__)


class Background:
    """The background services of one serving process."""

    def __init__(
        self,
        runtime: Runtime,
        app: FastAPI,
        *,
        console: Console | None = None,
        demo: bool = False,
    ) -> None:
        self.runtime, self.app, self.console = runtime, app, console
        self.demo = demo and runtime.settings.demo  # `up` seeds the demo city, `serve` never
        self._stops: list[Callable[[], Any]] = []
        self.batcher: MicroBatcher | None = None
        self.sink: EntityStreamSink | None = None

    def _started(self, stop: Callable[[], Any]) -> None:
        self._stops.append(stop)

    def start(self) -> Background:
        """Start everything the settings ask for; returns self."""
        rt, settings = self.runtime, self.runtime.settings
        checkpointer = PeriodicCheckpointer(rt)
        checkpointer.tick()
        checkpointer.start()
        self._started(checkpointer.stop)
        verifier = LedgerVerifier(rt)
        verifier.start()
        self._started(verifier.stop)
        self.app.state.verifier = verifier

        notifier = getattr(self.app.state, "ngsi_notifier", None)
        if notifier is None:
            notifier = Notifier(rt)
            self.app.state.ngsi_notifier = notifier
        notifier.start()
        self._started(notifier.stop)

        dead = SqlDeadLetterStore(rt.factory)
        self.sink = EntityStreamSink(rt, on_written=lambda t, ids: notifier.changed(t, ids, None))
        self.batcher = MicroBatcher(
            self.sink, ack=lambda tokens: None, dead_letters=dead, validator=self.sink.validate
        )
        self._started(self.batcher.close)
        self._collectors(dead)

        monitor = QualityMonitor(rt, interval_s=settings.quality_interval_s)
        if self.demo:
            self._demo()
        monitor.start()
        self._started(monitor.stop)
        jobs = governance_jobs(rt)
        jobs.start()
        self._started(jobs.stop)
        watch = start_pii_watch(rt)  # profiles a dataset for personal information after uploads
        self._started(watch.stop)
        detector = DetectorService(rt).start()  # supervision: findings from the ledger (Art16)
        self._started(detector.stop)
        return self

    def offer(self, message: StreamMessage) -> bool:
        """Hand one message to the in-process entity collector (blocks while it is full)."""
        assert self.batcher is not None, "start() first"
        return self.batcher.offer(message, None, timeout=30.0)

    def _collectors(self, dead: SqlDeadLetterStore) -> None:
        settings = self.runtime.settings
        assert self.sink is not None
        if settings.collect_mqtt_url:
            from urllib.parse import urlsplit

            from citybrain.hub.stream.mqtt import MqttCollector

            where = urlsplit(settings.collect_mqtt_url)
            mqtt = MqttCollector(
                self.sink,
                client_id="citybrain-entities",
                dead_letters=dead,
                validator=self.sink.validate,
                host=where.hostname or "127.0.0.1",
                port=where.port or 1883,
                kind="entities",
            ).start()
            self._started(mqtt.stop)
        if settings.collect_nats_url:
            from citybrain.hub.stream.nats import NatsCollector

            nats = NatsCollector(
                self.sink,
                dead_letters=dead,
                validator=self.sink.validate,
                url=settings.collect_nats_url,
            ).start()
            self._started(nats.stop)

    def _demo(self) -> None:
        from citybrain.demo.governance import seed_governance
        from citybrain.demo.runner import DemoCity
        from citybrain.demo.seed import SILENT_FOR, seed_demo

        rt, settings = self.runtime, self.runtime.settings
        now = rt.clock()
        summary = seed_demo(
            rt,
            seed=settings.demo_seed,
            now=now,
            offer=self.offer,
            console=self.console,
            progress=self.console is not None,
        )
        governance = seed_governance(rt, seed=settings.demo_seed, now=now)
        if self.console is not None:
            self.console.print(summary.describe(settings.default_locale))
            if governance.residents:
                self.console.print(governance.describe(settings.default_locale))
        assert self.batcher is not None
        self.batcher.wait_idle(120)
        city = DemoCity(
            self.offer,
            seed=settings.demo_seed,
            clock=rt.clock,
            since=now,
            silent_from=now - SILENT_FOR,
        )
        city.start()
        self._started(city.stop)
        if settings.traffic_speed > 0:
            self._live_traffic()

    def _live_traffic(self) -> None:
        """The demo's live traffic grid (a child process); failing, it is logged, not fatal."""
        from citybrain.demo.traffic import start_live_traffic

        rt, settings = self.runtime, self.runtime.settings
        try:
            live = start_live_traffic(
                self.offer,
                seed=settings.demo_seed,
                clock=rt.clock,
                folder=settings.data_dir / "traffic",
                speed=settings.traffic_speed,
            )
        except Exception:  # the city runs on without its live grid
            log.exception("the live traffic grid did not start")
            return
        self._started(live.stop)

    def stop(self) -> None:
        """Stop everything started, newest first; failures are logged, not raised."""
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception:  # pragma: no cover - best effort on the way out
                log.exception("stopping %r failed", stop)
