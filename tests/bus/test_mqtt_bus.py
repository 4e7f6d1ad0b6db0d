"""MqttBus against the real Mosquitto broker (127.0.0.1:1883)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citybrain.kernel.bus import BusUnavailable, make_bus
from citybrain.kernel.bus.mqtt import MqttBus, read_user_properties
from citybrain.kernel.events import Event, OrganisationCreated
from tests.bus.brokers import MQTT_HOST, MQTT_PORT, free_port, require_mqtt, wait_for
from tests.bus.test_nats_bus import Collect, LotFull, ReadingTaken

pytestmark = pytest.mark.xdist_group("mqtt")


@pytest.fixture
def bus() -> Iterator[MqttBus]:
    require_mqtt()
    b = MqttBus(
        MQTT_HOST,
        MQTT_PORT,
        prefix=f"cbt{uuid.uuid4().hex[:10]}",
        retry_delay_s=0.05,
        session_expiry_s=60,
    )
    try:
        yield b
    finally:
        b.close()


def test_typed_round_trip_prefix_and_star(bus: MqttBus) -> None:
    exact, prefix, star = Collect(), Collect(), Collect()
    bus.subscribe(ReadingTaken.topic, exact)
    bus.subscribe("test.sensor", prefix)
    bus.subscribe("*", star)
    reading, full = ReadingTaken(station="滨江-3", value=12.5), LotFull(lot="P1")
    org = OrganisationCreated(code="c", name="n", kind="department")
    for event in (reading, full, org):
        bus.publish(event)
    assert wait_for(lambda: len(star.events) == 3 and exact.events and prefix.events)
    time.sleep(0.2)
    assert exact.events == [reading] and prefix.events == [reading]
    assert isinstance(exact.events[0], ReadingTaken)
    assert {e.id for e in star.events} == {reading.id, full.id, org.id}


def test_failing_handler_is_retried_then_dead_lettered(bus: MqttBus) -> None:
    calls: list[str] = []

    def flaky(event: Event) -> None:
        calls.append(event.id)
        if len(calls) < 2:
            raise RuntimeError("cache offline")

    bus.subscribe(LotFull.topic, flaky)
    ok = LotFull(lot="P5")
    bus.publish(ok)
    assert wait_for(lambda: len(calls) == 2)

    dead: list[mqtt.MQTTMessage] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.on_message = lambda c, u, m: dead.append(m)
    watcher.connect(MQTT_HOST, MQTT_PORT)
    watcher.subscribe(f"{bus.prefix}_dlq/#", qos=1)
    watcher.loop_start()
    try:
        time.sleep(0.3)

        def broken(event: Event) -> None:
            raise ValueError("no such lot")

        bus.subscribe(ReadingTaken.topic, broken)
        bad = ReadingTaken(station="x", value=0)
        bus.publish(bad)
        assert wait_for(lambda: dead)
        props = read_user_properties(dead[0])
        assert props["CityBrain-Reason"] == "ValueError: no such lot"
        assert props["CityBrain-Attempts"] == str(bus.max_attempts)
        assert json.loads(dead[0].payload)["id"] == bad.id
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    assert calls == [ok.id, ok.id]


def test_named_subscription_gets_events_published_while_away(bus: MqttBus) -> None:
    name = f"audit-{uuid.uuid4().hex[:8]}"
    first = Collect()
    bus.subscribe(LotFull.topic, first, name=name).close()
    missed = LotFull(lot="P8")
    bus.publish(missed)
    again = Collect()
    bus.subscribe(LotFull.topic, again, name=name)
    assert wait_for(lambda: again.events)
    assert [e.id for e in again.events] == [missed.id] and first.events == []


def test_make_bus_mqtt_and_unreachable_broker() -> None:
    require_mqtt()
    b = make_bus(f"mqtt://{MQTT_HOST}:{MQTT_PORT}?prefix=cbt{uuid.uuid4().hex[:8]}")
    try:
        assert isinstance(b, MqttBus)
        got = threading.Event()
        b.subscribe(LotFull.topic, lambda e: got.set())
        b.publish(LotFull(lot="P0"))
        assert got.wait(5)
    finally:
        b.close()  # type: ignore[attr-defined]
    with pytest.raises(BusUnavailable):
        MqttBus(MQTT_HOST, free_port(), connect_timeout_s=1)
