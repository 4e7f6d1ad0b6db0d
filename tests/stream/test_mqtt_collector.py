"""MqttCollector against the real Mosquitto (and a private one for the broker restart)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citybrain.hub.stream import MemoryDeadLetterStore, MqttCollector, StreamMessage
from tests.bus.brokers import MQTT_HOST, MQTT_PORT, PrivateMosquitto, require_mqtt, wait_for

pytestmark = pytest.mark.xdist_group("mqtt")


class Sink:
    """Records committed msg ids; fails its first ``fail`` calls (``fail=-1``: always)."""

    def __init__(self, fail: int = 0, delay_s: float = 0.0) -> None:
        self.ids: list[str] = []
        self.delay_s = delay_s
        self.batches: list[StreamMessage] = []
        self.calls = 0
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, batch: list[StreamMessage]) -> None:
        time.sleep(self.delay_s)
        with self.lock:
            self.calls += 1
            if self.fail < 0 or self.calls <= self.fail:
                raise OSError("record store unavailable")
            self.ids.extend(m.msg_id for m in batch)
            self.batches.append(batch[0])


def needs_v(m: StreamMessage) -> str | None:
    return None if isinstance(m.data, dict) and "v" in m.data else "field v is required"


class Publisher:
    """A paho QoS 1 publisher that retries until the broker has the message (as a gateway does)."""

    def __init__(self, port: int = MQTT_PORT) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"cbt-pub-{uuid.uuid4().hex}"
        )
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(MQTT_HOST, port)
        self.client.loop_start()

    def send(self, topic: str, body: object, retry_s: float = 15.0) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        deadline = time.monotonic() + retry_s
        while True:
            info = self.client.publish(topic, payload, qos=1)
            try:
                info.wait_for_publish(2)
                if info.is_published():
                    return
            except (RuntimeError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not publish to {topic}")
            time.sleep(0.1)

    def send_many(self, items: list[tuple[str, object]]) -> None:
        infos = [self.client.publish(t, json.dumps(b), qos=1) for t, b in items]
        for info in infos:
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def prefix() -> str:
    require_mqtt()
    return f"cbt{uuid.uuid4().hex[:10]}"


@pytest.fixture
def publisher(prefix: str) -> Iterator[Publisher]:
    p = Publisher()
    yield p
    p.close()


def collector(prefix: str, sink: Sink, client_id: str, **kw: object) -> MqttCollector:
    kw.setdefault("dead_letters", MemoryDeadLetterStore())
    return MqttCollector(
        sink,
        client_id=client_id,
        prefix=prefix,
        validator=needs_v,
        max_batch=100,
        max_delay_ms=20,
        session_expiry_s=60,
        **kw,  # type: ignore[arg-type]
    ).start()


def test_thousand_messages_each_stored_once_invalid_ones_dead_lettered(
    prefix: str, publisher: Publisher
) -> None:
    sink = Sink(fail=2)  # the store fails twice: nothing is acked, the batch is retried
    dead = MemoryDeadLetterStore()
    col = collector(prefix, sink, f"cbt-col-{uuid.uuid4().hex}", dead_letters=dead)
    try:
        topic = f"{prefix}/330100/air-quality/reading"
        items: list[tuple[str, object]] = [
            (topic, {"msg_id": f"m{i}", "v": i}) for i in range(1000)
        ]
        items += [(topic, {"msg_id": f"m{i}", "v": i}) for i in range(0, 1000, 10)]  # resent
        items += [(topic, {"msg_id": f"bad{i}", "pm25": i}) for i in range(10)]
        publisher.send_many(items)
        publisher.send(topic, b"{broken")
        assert wait_for(lambda: len(sink.ids) == 1000 and len(dead.records) == 11, 20)
        assert col.wait_idle()
    finally:
        col.stop()
    counts = Counter(sink.ids)
    assert set(counts) == {f"m{i}" for i in range(1000)} and max(counts.values()) == 1
    assert len(sink.batches) > 1  # micro-batches, not one message per write
    first = sink.batches[0]
    assert (first.org, first.dataset, first.kind) == ("330100", "air-quality", "reading")
    reasons = Counter(r.reason.split(":")[0] for r in dead.records)
    assert reasons == {"field v is required": 10, "malformed JSON": 1}
    assert col.batcher.stats.duplicates == 100


def test_crash_before_commit_redelivers_everything_to_the_next_session(
    prefix: str, publisher: Publisher
) -> None:
    client_id = f"cbt-col-{uuid.uuid4().hex}"
    broken = Sink(fail=-1)
    first = collector(prefix, broken, client_id)
    topic = f"{prefix}/330100/parking/occupancy"
    publisher.send_many([(topic, {"msg_id": f"p{i}", "v": i}) for i in range(300)])
    assert wait_for(lambda: first.batcher.stats.received == 300)
    first.stop(drain=False)  # the process dies: the store never committed, nothing was acked
    assert broken.ids == []
    healthy = Sink()
    second = collector(prefix, healthy, client_id)
    try:
        assert wait_for(lambda: len(healthy.ids) == 300, 15)
        assert second.wait_idle()
    finally:
        second.stop()
    assert sorted(healthy.ids) == sorted(f"p{i}" for i in range(300))


def test_broker_restart_mid_stream_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    """Kill (SIGTERM) and restart a private Mosquitto in the middle of a stream."""
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    col: MqttCollector | None = None
    pub: Publisher | None = None
    try:
        sink = Sink(delay_s=0.02)  # a slow store: messages are queued when the broker dies
        col = collector("citybrain", sink, "cbt-restart", port=broker.port)
        pub = Publisher(broker.port)
        topic = "citybrain/330100/traffic/detector"
        n = 1500
        for i in range(n):
            if i == 500:
                broker.stop()
                time.sleep(0.3)
                broker.start()
            pub.send(topic, {"msg_id": f"d{i}", "v": i})
        assert wait_for(lambda: len(set(sink.ids)) == n, 30)
        assert col.wait_idle()
        counts = Counter(sink.ids)
        assert set(counts) == {f"d{i}" for i in range(n)}
        assert max(counts.values()) == 1
    finally:
        if pub is not None:
            pub.close()
        if col is not None:
            col.stop()
        broker.stop()
