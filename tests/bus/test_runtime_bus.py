"""The runtime on the production bus: `bus_url` selects NATS JetStream, and the gate's events
arrive there typed."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from citybrain.kernel.config import load_settings
from citybrain.kernel.events import Event, GovernedActionRecorded
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.service import Caller
from citybrain.kernel.runtime import Runtime
from tests.bus.brokers import NATS_URL, require_nats


def test_gate_events_travel_on_nats(tmp_path: Path) -> None:
    require_nats()
    tag = uuid.uuid4().hex[:8]
    url = f"{NATS_URL}?stream=CB_RT_{tag}&prefix=cbrt{tag}"
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path, bus_url=url))
    try:
        rt.migrate()
        rt.bootstrap()
        got: list[Event] = []
        seen = threading.Event()

        def handler(event: Event) -> None:
            got.append(event)
            if getattr(event, "request_id", "") == f"nats-{tag}":
                seen.set()

        rt.bus.subscribe("kernel.ledger", handler)
        admin = Caller(1, "admin", rt.settings.city_code, ("admin",), ())
        with rt.gate.read(
            admin,
            "org.read",
            Resource("Organisation", rt.settings.city_code),
            request_id=f"nats-{tag}",
        ):
            pass
        assert seen.wait(15), got
        mine = [e for e in got if getattr(e, "request_id", "") == f"nats-{tag}"]
        assert isinstance(mine[0], GovernedActionRecorded)
        assert mine[0].decision == "allow"
    finally:
        delete = getattr(rt.bus, "delete_streams", None)
        if callable(delete):
            delete()
        rt.close()
