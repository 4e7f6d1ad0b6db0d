"""NatsCollector against the real NATS JetStream (and a private server for the restart)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from citybrain.hub.stream import MemoryDeadLetterStore, NatsCollector
from tests.bus.brokers import NATS_URL, PrivateNats, delete_streams, require_nats, wait_for
from tests.stream.test_mqtt_collector import Sink, needs_v

pytestmark = pytest.mark.xdist_group("nats")


def publish(url: str, items: list[tuple[str, bytes, str | None]]) -> None:
    """JetStream-publish (subject, body, Nats-Msg-Id) and wait for every ack."""

    async def run() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        acks = [
            js.publish(s, body, headers={"Nats-Msg-Id": mid} if mid else None)
            for s, body, mid in items
        ]
        for i in range(0, len(acks), 200):
            await asyncio.gather(*acks[i : i + 200])
        await nc.close()

    asyncio.run(run())


def body(i: int, **extra: object) -> bytes:
    return json.dumps({"msg_id": f"m{i}", "v": i, **extra}).encode()


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    require_nats()
    u = uuid.uuid4().hex[:10]
    stream, prefix = f"CBT_COLLECT_{u}", f"cbtcollect{u}"
    yield stream, prefix
    delete_streams(NATS_URL, stream)


def collector(
    names: tuple[str, str], sink: Sink, url: str = NATS_URL, **kw: object
) -> NatsCollector:
    stream, prefix = names
    kw.setdefault("dead_letters", MemoryDeadLetterStore())
    kw.setdefault("max_batch", 100)
    return NatsCollector(
        sink,
        url=url,
        stream=stream,
        subject_prefix=prefix,
        durable="cbt-collector",
        validator=needs_v,
        max_delay_ms=20,
        **kw,  # type: ignore[arg-type]
    ).start()


def test_thousand_messages_each_stored_once_invalid_ones_dead_lettered(
    names: tuple[str, str],
) -> None:
    sink, dead = Sink(fail=2), MemoryDeadLetterStore()
    col = collector(names, sink, dead_letters=dead, capacity=300)
    try:
        subject = f"{names[1]}.330100.air-quality"
        items = [(subject, body(i), None) for i in range(1000)]
        items += [(subject, body(i), f"resend-{i}") for i in range(0, 1000, 10)]  # resent
        items += [(subject, json.dumps({"msg_id": f"bad{i}"}).encode(), None) for i in range(10)]
        items += [(subject, b"\xff not json", None)]
        publish(NATS_URL, items)
        assert wait_for(lambda: len(sink.ids) == 1000 and len(dead.records) == 11, 20)
        assert col.wait_idle()
    finally:
        col.stop()
    counts = Counter(sink.ids)
    assert set(counts) == {f"m{i}" for i in range(1000)} and max(counts.values()) == 1
    assert len(sink.batches) > 1 and sink.batches[0].org == "330100"
    assert sink.batches[0].dataset == "air-quality"
    reasons = Counter(r.reason.split(":")[0] for r in dead.records)
    assert reasons == {"field v is required": 10, "malformed JSON": 1}


def test_crash_before_commit_redelivers_everything(names: tuple[str, str]) -> None:
    broken = Sink(fail=-1)
    first = collector(names, broken, ack_wait_s=1.0)
    publish(NATS_URL, [(f"{names[1]}.330100.parking", body(i), None) for i in range(300)])
    assert wait_for(lambda: first.batcher.stats.received >= 100)
    first.stop(drain=False)  # dies with the store down: nothing committed, nothing acked
    healthy = Sink()
    second = collector(names, healthy, ack_wait_s=1.0)
    try:
        assert wait_for(lambda: len(healthy.ids) == 300, 15)
        assert second.wait_idle()
    finally:
        second.stop()
    assert sorted(healthy.ids) == sorted(f"m{i}" for i in range(300)) and broken.ids == []


def test_back_pressure_pulls_no_more_than_the_queue_holds(names: tuple[str, str]) -> None:
    stalled = Sink(fail=-1)
    col = collector(names, stalled, capacity=50, max_batch=10)
    try:
        publish(NATS_URL, [(f"{names[1]}.330100.parking", body(i), None) for i in range(500)])
        assert wait_for(lambda: col.batcher.free() == 0)
        seen = col.batcher.stats.received
        wait_for(lambda: False, 0.5)
        assert col.batcher.stats.received == seen <= 50 + 10
    finally:
        col.stop(drain=False)


def test_broker_restart_nats_mid_stream_loses_nothing(tmp_path: Path) -> None:
    """Stop (SIGTERM) and restart a private nats-server between two halves of a stream."""
    server = PrivateNats(tmp_path)
    server.start()
    col = None
    try:
        sink = Sink(delay_s=0.02)
        col = collector(("COLLECT", "collect"), sink, url=server.url, ack_wait_s=2.0)
        publish(server.url, [("collect.330100.traffic", body(i), None) for i in range(500)])
        server.stop()
        server.start()
        publish(server.url, [("collect.330100.traffic", body(i), None) for i in range(500, 1000)])
        assert wait_for(lambda: len(set(sink.ids)) == 1000, 30)
        assert col.wait_idle()
        assert Counter(sink.ids).most_common(1)[0][1] == 1
    finally:
        if col is not None:
            col.stop()
        server.stop()
