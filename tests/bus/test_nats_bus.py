"""NatsJetStreamBus against the real NATS JetStream server (127.0.0.1:4222)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from citybrain.kernel.bus import BusTimeout, BusUnavailable, RawEvent, make_bus
from citybrain.kernel.bus.nats import NatsJetStreamBus
from citybrain.kernel.errors import ConfigError, InvalidInput
from citybrain.kernel.events import Event, InProcessBus, OrganisationCreated
from tests.bus.brokers import NATS_URL, PrivateNats, free_port, require_nats, wait_for

pytestmark = pytest.mark.xdist_group("nats")


class ReadingTaken(Event):
    """A test event with a nested topic."""

    topic: ClassVar[str] = "test.sensor.reading_taken"
    station: str
    value: float


class LotFull(Event):
    """Another test event, outside the ``test.sensor`` prefix."""

    topic: ClassVar[str] = "test.parking.lot_full"
    lot: str


def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def bus() -> Iterator[NatsJetStreamBus]:
    require_nats()
    u = unique()
    b = NatsJetStreamBus(
        NATS_URL, stream=f"CBT_{u}", subject_prefix=f"cbt{u}", nak_delay_s=0.05, max_attempts=3
    )
    try:
        yield b
    finally:
        b.delete_streams()
        b.close()


class Collect:
    """A thread-safe handler that records events."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)


def test_typed_round_trip(bus: NatsJetStreamBus) -> None:
    got = Collect()
    bus.subscribe(ReadingTaken.topic, got)
    sent = ReadingTaken(station="西湖-01", value=35.5)
    bus.publish(sent)
    assert wait_for(lambda: got.events)
    [event] = got.events
    assert isinstance(event, ReadingTaken)
    assert event == sent


def test_prefix_and_star_subscriptions(bus: NatsJetStreamBus) -> None:
    exact, prefix, star = Collect(), Collect(), Collect()
    bus.subscribe("test.sensor.reading_taken", exact)
    bus.subscribe("test.sensor", prefix)
    bus.subscribe("*", star)
    bus.subscribe("test.sens", Collect())  # a token prefix is not a topic prefix
    reading, full = ReadingTaken(station="s", value=1), LotFull(lot="P1")
    org = OrganisationCreated(code="c", name="n", kind="department")
    for event in (reading, full, org):
        bus.publish(event)
    assert wait_for(lambda: len(star.events) == 3)
    time.sleep(0.2)
    assert [e.id for e in exact.events] == [reading.id]
    assert [e.id for e in prefix.events] == [reading.id]
    assert {e.id for e in star.events} == {reading.id, full.id, org.id}
    assert isinstance(next(e for e in star.events if e.id == org.id), OrganisationCreated)


def test_unknown_topic_arrives_raw(bus: NatsJetStreamBus) -> None:
    got = Collect()
    bus.subscribe("test.foreign", got)
    bus.publish(RawEvent(event_topic="test.foreign.thing", payload={"a": 1, "名": "值"}))
    assert wait_for(lambda: got.events)
    [event] = got.events
    assert isinstance(event, RawEvent)
    assert event.topic == "test.foreign.thing"
    assert event.payload["a"] == 1 and event.payload["名"] == "值"


def test_at_least_once_redelivers_after_handler_failure(bus: NatsJetStreamBus) -> None:
    calls: list[str] = []

    def flaky(event: Event) -> None:
        calls.append(event.id)
        if len(calls) < 3:
            raise RuntimeError("database busy")

    bus.subscribe(LotFull.topic, flaky, name="parking-dashboard")
    sent = LotFull(lot="P7")
    bus.publish(sent)
    assert wait_for(lambda: len(calls) == 3)
    time.sleep(0.3)
    assert calls == [sent.id] * 3  # two failures, then handled once and acked
    assert bus.dead_letters() == []


def test_events_published_while_a_durable_subscriber_is_away_are_delivered(
    bus: NatsJetStreamBus,
) -> None:
    first = Collect()
    sub = bus.subscribe(LotFull.topic, first, name="billing")
    sub.close()  # the durable consumer stays on the server
    missed = LotFull(lot="P9")
    bus.publish(missed)
    again = Collect()
    bus.subscribe(LotFull.topic, again, name="billing")
    assert wait_for(lambda: again.events)
    assert [e.id for e in again.events] == [missed.id] and first.events == []


def test_republished_event_is_stored_once(bus: NatsJetStreamBus) -> None:
    got = Collect()
    bus.subscribe(LotFull.topic, got)
    event = LotFull(lot="P2")
    for _ in range(3):
        bus.publish(event)
    assert wait_for(lambda: got.events)
    time.sleep(0.3)
    assert bus.stream_messages() == 1
    assert [e.id for e in got.events] == [event.id]


def test_dead_letter_after_max_attempts(bus: NatsJetStreamBus) -> None:
    calls: list[int] = []

    def broken(event: Event) -> None:
        calls.append(1)
        raise ValueError("lot P3 is not in the registry")

    bus.subscribe(LotFull.topic, broken, name="registry-sync")
    event = LotFull(lot="P3")
    bus.publish(event)
    assert wait_for(lambda: bus.dead_letters("registry-sync"))
    time.sleep(0.3)
    [dead] = bus.dead_letters("registry-sync")
    assert len(calls) == 3 == dead.attempts
    assert dead.reason == "ValueError: lot P3 is not in the registry"
    assert dead.event_id == event.id and dead.topic == LotFull.topic
    assert LotFull.model_validate_json(dead.payload) == event


def test_invalid_topic_is_refused(bus: NatsJetStreamBus) -> None:
    with pytest.raises(InvalidInput):
        bus.subscribe("test.>", Collect())
    with pytest.raises(InvalidInput):
        bus.publish(RawEvent(event_topic="bad topic", payload={}))


def test_publish_timeout_is_a_clear_error(tmp_path: Path) -> None:
    server = PrivateNats(tmp_path)
    server.start()
    try:
        b = NatsJetStreamBus(server.url, publish_timeout_s=0.5)
        try:
            b.publish(LotFull(lot="before"))
            server.pause()  # the server hangs: nothing acknowledges
            start = time.monotonic()
            during = LotFull(lot="during")
            with pytest.raises(BusTimeout, match="did not acknowledge") as info:
                b.publish(during)
            assert time.monotonic() - start < 3
            assert info.value.status == 503
            server.resume()
            b.publish(during)  # the caller retries: safe, the stream de-duplicates by id
            b.publish(LotFull(lot="after"))
            assert b.stream_messages() == 3
        finally:
            server.resume()
            b.close()
    finally:
        server.stop()


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(BusUnavailable, match="cannot reach NATS"):
        NatsJetStreamBus(f"nats://127.0.0.1:{free_port()}", connect_timeout_s=1)


def test_make_bus_picks_the_implementation() -> None:
    assert isinstance(make_bus(None), InProcessBus)
    with pytest.raises(ConfigError):
        make_bus("kafka://127.0.0.1:9092")
    require_nats()
    u = unique()
    b = make_bus(f"{NATS_URL}?stream=CBT_{u}&prefix=cbt{u}")
    try:
        assert isinstance(b, NatsJetStreamBus) and b.stream == f"CBT_{u}"
    finally:
        b.delete_streams()  # type: ignore[attr-defined]
        b.close()  # type: ignore[attr-defined]
