"""MicroBatcher without a broker: dedupe, validation, dead letters, retry, back-pressure."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from sqlalchemy import inspect

from citybrain.hub.stream import (
    DeadLetterRecord,
    MemoryDeadLetterStore,
    MicroBatcher,
    SqlDeadLetterStore,
    StreamMessage,
    message_id,
)
from citybrain.kernel import db


def msg(i: int | None, body: object = None, transport_id: str | None = None) -> StreamMessage:
    payload = json.dumps(body if body is not None else {"msg_id": f"m{i}", "v": i}).encode()
    return StreamMessage("test", "citybrain/o/d/k", payload, transport_id=transport_id)


def pm25_required(m: StreamMessage) -> str | None:
    if "v" not in m.data:
        return "field v is required"
    return None if isinstance(m.data["v"], int) else "field v: not an integer"


def test_dedupe_validate_dead_letter_then_ack_in_arrival_order() -> None:
    batches: list[list[str]] = []
    acked: list[int] = []
    dead = MemoryDeadLetterStore()
    b = MicroBatcher(
        lambda batch: batches.append([m.msg_id for m in batch]),
        ack=acked.extend,
        dead_letters=dead,
        validator=pm25_required,
        max_batch=4,
        max_delay_ms=20,
    )
    items = [msg(1), msg(2), msg(1), msg(3, {"msg_id": "m3", "v": "x"}), msg(4)]
    items += [StreamMessage("test", "t", b"{not json"), msg(2), msg(5, {"msg_id": "m5"})]
    for n, item in enumerate(items):
        assert b.offer(item, n)
    assert b.wait_idle()
    b.close()
    assert [i for batch in batches for i in batch] == ["m1", "m2", "m4"]
    assert acked == list(range(len(items)))
    reasons = {r.msg_id: r.reason for r in dead.records}
    assert reasons["m3"] == "field v: not an integer"
    assert reasons["m5"] == "field v is required"
    assert any(r.reason.startswith("malformed JSON") for r in dead.records)
    assert b.stats.duplicates == 2 and b.stats.committed == 3 and b.stats.dead == 3


def test_message_id_falls_back_to_transport_id_then_content_hash() -> None:
    m = msg(None, {"v": 1}, transport_id="nats:S:7")
    m.data = {"v": 1}
    assert message_id(m) == "nats:S:7"
    m.transport_id = None
    assert message_id(m).startswith("sha256:")


def test_failing_sink_is_retried_and_nothing_is_acked_before_commit() -> None:
    committed: list[str] = []
    acked: list[int] = []
    failures = {"left": 3}

    def sink(batch: list[StreamMessage]) -> None:
        if failures["left"]:
            failures["left"] -= 1
            assert acked == []  # nothing acked while the batch is not stored
            raise OSError("disk full")
        committed.extend(m.msg_id for m in batch)

    b = MicroBatcher(sink, ack=acked.extend, dead_letters=MemoryDeadLetterStore(), max_batch=50)
    for i in range(20):
        b.offer(msg(i), i)
    assert b.wait_idle()
    b.close()
    assert sorted(committed) == sorted(f"m{i}" for i in range(20))
    assert acked == list(range(20)) and b.stats.sink_failures == 3


def test_back_pressure_bounded_queue_and_crash_leaves_messages_unacked() -> None:
    gate = threading.Event()
    acked: list[int] = []

    def slow_sink(batch: list[StreamMessage]) -> None:
        gate.wait(5)
        raise OSError("store down")

    b = MicroBatcher(
        slow_sink, ack=acked.extend, dead_letters=MemoryDeadLetterStore(), max_batch=2, capacity=3
    )
    accepted = sum(b.offer(msg(i), i, timeout=0.05) for i in range(10))
    assert accepted <= 3 + 2  # the queue plus the batch in the worker's hands
    assert b.free() == 0
    threading.Timer(0.2, gate.set).start()
    b.close(drain=False)
    assert acked == []  # a crash acks nothing: the broker redelivers


def test_sql_dead_letter_store(db_url: str) -> None:
    """On SQLite and PostgreSQL (the shared ``db_url`` fixture)."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    assert "stream_dead_letters" in inspect(engine).get_table_names()
    assert db.current_revision(engine)  # migrated (0005 lies under the merged head)
    store = SqlDeadLetterStore(db.session_factory(engine))
    now = datetime.now(UTC)
    store.add([DeadLetterRecord("mqtt", "citybrain/o/d/k", "m1", "{}", "field v is required", now)])
    [row] = store.list("citybrain/o/d/k")
    assert (row.msg_id, row.reason, row.received_at) == ("m1", "field v is required", now)
    engine.dispose()
