"""Readings packed as signed stream messages, and the live runner (no database)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from citybrain.demo.city import (
    DATASET_BY_SLUG,
    DIRTY_DATASET,
    DISTRICTS,
    LATE_DATASET,
    ORG_BY_KEY,
    STREAMS,
    district_at,
)
from citybrain.demo.messages import MessageFactory, canonical, provider_key, verify_payload
from citybrain.demo.runner import DemoCity
from citybrain.demo.seed import SILENT_FOR, backfill_messages
from citybrain.demo.sensors import slot_times
from citybrain.hub.ingest.service import key_id_for
from citybrain.hub.stream.batcher import StreamMessage
from citybrain.kernel.clock import FrozenClock
from citybrain.ledger.signing import CheckpointSigner

NOW = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
SEED = 7


def payload(m: StreamMessage) -> dict[str, Any]:
    data = json.loads(m.payload)
    assert isinstance(data, dict)
    return data


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = backfill_messages(SEED, NOW)
    again = backfill_messages(SEED, NOW)
    other = backfill_messages(SEED + 1, NOW)
    assert [m.payload for m in first] == [m.payload for m in again]
    assert [m.topic for m in first] == [m.topic for m in again]
    assert len(first) == len(other)
    assert all(a.payload != b.payload for a, b in zip(first[1:], other[1:], strict=True))


def test_messages_are_well_formed() -> None:
    messages = backfill_messages(SEED, NOW)
    ids = [payload(m)["msg_id"] for m in messages]
    assert len(set(ids)) == len(ids)
    for m in messages:
        body = payload(m)
        assert m.payload == canonical(body)  # canonical JSON on the wire
        assert m.source == "demo" and m.kind == "entities"
        spec = DATASET_BY_SLUG[m.dataset or ""]
        assert m.org == spec.provider_code
        assert m.topic == f"citybrain/{m.org}/{m.dataset}/entities"
        assert body["msg_id"].startswith(f"demo-{SEED}-{m.dataset}-")
        assert 1 <= len(body["entities"]) <= 6
        for e in body["entities"]:
            assert e["id"].startswith(f"urn:ngsi-ld:{e['type']}:")
            assert e["type"] == spec.entity_type
            assert e["location"]["type"] == "GeoProperty"
            geometry = e["location"]["value"]
            if geometry["type"] == "Point":
                lon, lat = geometry["coordinates"]
                assert district_at(lon, lat) is not None


def test_counts_per_dataset_over_six_hours() -> None:
    messages = backfill_messages(SEED, NOW)
    per_message = Counter(m.dataset for m in messages)
    per_entity = Counter(m.dataset for m in messages for _ in payload(m)["entities"])
    start = NOW - timedelta(hours=6)
    for stream in STREAMS:
        slots = slot_times(SEED, stream, start, NOW)
        groups = -(-stream.count // stream.per_message)
        assert per_message[stream.dataset] == len(slots) * groups
        silenced = sum(1 for t in slots if t >= NOW - SILENT_FOR) * stream.silent
        assert per_entity[stream.dataset] == len(slots) * stream.count - silenced
    assert len(slot_times(SEED, STREAMS[-1], start, NOW)) == 180  # traffic, every 2 minutes
    assert per_entity["administrative-districts"] == len(DISTRICTS)
    assert 800 <= len(messages) <= 3000


def test_signed_providers_verify_and_the_dirty_one_is_unsigned() -> None:
    factory = MessageFactory(SEED)
    messages = backfill_messages(SEED, NOW)
    signed = [m for m in messages if m.dataset != DIRTY_DATASET]
    unsigned = [m for m in messages if m.dataset == DIRTY_DATASET]
    assert signed and unsigned
    for m in signed:
        body = payload(m)
        key = factory.keys[m.org or ""]
        assert body["key_id"] == key.key_id == key_id_for(key.public_key_b64)
        assert verify_payload(body, key.public_key_b64)
        unsigned_body = {k: v for k, v in body.items() if k != "sig"}
        raw = json.dumps(unsigned_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        sig = base64.b64decode(body["sig"])
        assert CheckpointSigner.verify(key.public_key_b64, raw.encode("utf-8"), sig)
        body["entities"][0]["id"] += "-forged"
        assert not verify_payload(body, key.public_key_b64)
    for m in unsigned:
        assert "sig" not in payload(m) and "key_id" not in payload(m)
    # a key of another organisation does not verify
    other = provider_key(SEED, ORG_BY_KEY["transport"].code)
    assert not verify_payload(payload(signed[1]), other.public_key_b64)


def test_keys_are_derived_from_the_seed() -> None:
    org = ORG_BY_KEY["environment"].code
    assert provider_key(SEED, org).public_key_b64 == provider_key(SEED, org).public_key_b64
    assert provider_key(SEED, org).key_id != provider_key(SEED + 1, org).key_id
    assert len(base64.b64decode(provider_key(SEED, org).public_key_b64)) == 32


def test_dirty_values_travel_only_with_the_dirty_provider() -> None:
    bad: Counter[str] = Counter()
    for m in backfill_messages(SEED, NOW):
        for e in payload(m)["entities"]:
            pm25 = e.get("pm25", {}).get("value")
            missing = e["type"] == "AirQualityObserved" and (
                "pm10" not in e or "dateObserved" not in e
            )
            if pm25 in (-5, 9999) or missing:
                bad[m.dataset or ""] += 1
    assert set(bad) == {DIRTY_DATASET}
    assert bad[DIRTY_DATASET] >= 20


def test_late_provider_messages_arrive_about_every_twenty_minutes() -> None:
    times = sorted(
        {m.received_at for m in backfill_messages(SEED, NOW) if m.dataset == LATE_DATASET}
    )
    gaps = [(b - a).total_seconds() / 60 for a, b in pairwise(times)]
    assert gaps and all(17 <= g <= 23 for g in gaps)


def test_runner_continues_the_backfill_without_gap_or_repeat() -> None:
    clock = FrozenClock(NOW)
    sent: list[StreamMessage] = []
    city = DemoCity(sent.append, seed=SEED, clock=clock, since=NOW, silent_from=NOW - SILENT_FOR)
    assert city.tick() == 0
    for _ in range(90):  # 15 minutes of 10-second ticks
        clock.advance(10)
        city.tick()
    later = clock()
    expected = list(MessageFactory(SEED).between(NOW, later, silent_from=NOW - SILENT_FOR))
    assert [m.payload for m in sent] == [m.payload for m in expected]
    # 15 minutes: traffic every 2 (3 messages), air every 5 (2 each), the car parks once
    # (their 02:00 report drifts a little past 02:00)
    assert Counter(m.dataset for m in sent) == {
        "traffic-flow": 7 * 3,
        "air-quality": 3 * 2,
        "micro-air-quality": 3 * 2,
        "public-parking": 3,
    }
    # the same clock readings give the same messages
    clock2 = FrozenClock(NOW)
    again: list[StreamMessage] = []
    city2 = DemoCity(again.append, seed=SEED, clock=clock2, since=NOW, silent_from=NOW - SILENT_FOR)
    for _ in range(90):
        clock2.advance(10)
        city2.tick()
    assert [m.payload for m in again] == [m.payload for m in sent]


def test_runner_silences_the_silent_car_parks_from_its_start() -> None:
    clock = FrozenClock(NOW)
    sent: list[StreamMessage] = []
    city = DemoCity(sent.append, seed=SEED, clock=clock)
    city.tick()
    clock.advance(3600)
    city.tick()
    parks = {e["id"] for m in sent if m.dataset == LATE_DATASET for e in payload(m)["entities"]}
    assert len(parks) == 10


def test_runner_thread_ticks_in_real_time_and_stops() -> None:
    lock = threading.Lock()
    state = {"now": NOW}

    def clock() -> datetime:
        with lock:
            state["now"] += timedelta(minutes=5)  # every reading of the clock is 5 minutes on
            return state["now"]

    received: list[StreamMessage] = []

    def offer(m: StreamMessage) -> bool:
        received.append(m)
        return len(received) % 2 == 0

    city = DemoCity(offer, seed=SEED, clock=clock, tick_s=0.01)
    city.start()
    deadline = time.monotonic() + 10
    while len(received) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    city.stop()
    assert not city.running
    count = len(received)
    assert count >= 20
    assert city.sent + city.refused == count and city.refused > 0
    time.sleep(0.05)
    assert len(received) == count  # nothing after stop


def test_runner_survives_a_failing_collector() -> None:
    clock = FrozenClock(NOW)
    calls = {"n": 0}

    def offer(m: StreamMessage) -> bool:
        calls["n"] += 1
        raise RuntimeError("collector down")

    city = DemoCity(offer, seed=SEED, clock=clock, tick_s=0.01, since=NOW - timedelta(minutes=10))
    city.start()
    deadline = time.monotonic() + 5
    while calls["n"] < 2 and time.monotonic() < deadline:
        clock.advance(300)
        time.sleep(0.02)
    assert city.running
    city.stop()
    assert calls["n"] >= 2
