"""The live grid in the demo city: a real snapshot (SUMO in its child process) becomes entities
that fit the ``traffic-signals`` schema and lie in 上城区, travels signed by the traffic police
through the stream path into the store (SQLite and PostgreSQL), and shows on the home page in
both languages; the background services start it only with the demo."""

from __future__ import annotations

import json
import multiprocessing
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citybrain.api.app import create_app
from citybrain.api.services import Background
from citybrain.demo.city import DATASET_BY_SLUG, ORG_BY_KEY, district_at
from citybrain.demo.messages import provider_key, verify_payload
from citybrain.demo.seed import seed_demo
from citybrain.demo.traffic import DATASET, TrafficFeed, snapshot_entities
from citybrain.hub.entities.models import NgsiEntity
from citybrain.hub.entities.stream_sink import EntityStreamSink
from citybrain.hub.ingest.tableschema import validate_row
from citybrain.hub.stream.batcher import MemoryDeadLetterStore, MicroBatcher, StreamMessage
from citybrain.kernel.clock import FrozenClock
from citybrain.kernel.config import load_settings
from citybrain.kernel.i18n import t
from citybrain.kernel.runtime import Runtime
from citybrain.scenarios.traffic.live import LiveTraffic
from tests.cockpit.test_home_page import page

NOW = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)  # 08:00 in Hangzhou: rush hour
SEED = 2024
SHANGCHENG = "330102"


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first snapshot that carries an ambulance report, from a real run (flat out)."""
    live = LiveTraffic(tmp_path_factory.mktemp("grid"), seed=SEED, start=NOW, speed=1e6).start()
    try:
        for _ in range(200):
            message = live.get(timeout=10.0)
            assert message is not None, "the live grid went quiet"
            if message["kind"] == "snapshot" and message["emergency"]:
                return message
    finally:
        live.stop()
    raise AssertionError("no snapshot with an ambulance report")


def _row(entity: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """The entity as the stream sink checks it against the Table Schema."""
    return {
        k: v.get("value", v.get("object"))
        for k, v in entity.items()
        if isinstance(v, dict) and k in names
    }


def test_entities_fit_the_schema_and_lie_in_shangcheng(grid: dict[str, Any]) -> None:
    spec = DATASET_BY_SLUG[DATASET]
    names = set(spec.field_names())
    entities = snapshot_entities(grid, NOW)
    kinds = [e["type"] for e in entities]
    assert kinds.count("TrafficSignal") == 9
    assert kinds.count("TrafficFlowObserved") == len(grid["detectors"]) == 72
    assert kinds.count("CongestionIndex") == kinds.count("EmergencyRun") == 1
    assert len({e["id"] for e in entities}) == len(entities)
    for e in entities:
        assert set(e) - {"id", "type"} <= names, f"{e['type']} has attributes the schema lacks"
        _, errors = validate_row(spec.schema, _row(e, names), 0)
        assert errors == [], (e["id"], errors)
        geometry = e["location"]["value"]
        points = (
            [geometry["coordinates"]] if geometry["type"] == "Point" else geometry["coordinates"][0]
        )
        for lon, lat in points:
            district = district_at(lon, lat)
            assert district is not None and district.code == SHANGCHENG, (e["id"], lon, lat)
    index = next(e for e in entities if e["type"] == "CongestionIndex")
    assert index["travelTimeIndex"]["value"] == grid["congestion_index"] >= 1.0
    assert index["controlledIntersections"]["value"] == 9
    run = next(e for e in entities if e["type"] == "EmergencyRun")
    report = grid["emergency"]
    assert run["travelTime"]["value"] == report["travel_time_s"]
    assert run["timeSavedEstimate"]["value"] == report["time_saved_estimate_s"]
    assert run["preemptedSignals"]["value"] == len(report["preempted_signals"])
    lane = next(e for e in entities if e["type"] == "TrafficFlowObserved")
    assert lane["refTrafficSignal"]["object"].startswith("urn:ngsi-ld:TrafficSignal:")
    assert lane["averageVehicleSpeed"]["unitCode"] == "KMH"


def test_messages_are_signed_by_the_traffic_police(grid: dict[str, Any]) -> None:
    feed = TrafficFeed(lambda m: True, seed=SEED, clock=FrozenClock(NOW))
    messages = feed.messages(grid, NOW)
    police = ORG_BY_KEY["traffic-police"].code
    key = provider_key(SEED, police)
    ids = set()
    for m in messages:
        body = json.loads(m.payload)
        assert (m.org, m.dataset, m.kind) == (police, DATASET, "entities")
        assert m.topic == f"citybrain/{police}/{DATASET}/entities"
        assert verify_payload(body, key.public_key_b64)
        assert 1 <= len(body["entities"]) <= 25
        ids.add(body["msg_id"])
    assert len(ids) == len(messages)
    assert sum(len(json.loads(m.payload)["entities"]) for m in messages) == 83


def test_the_feed_sends_a_snapshot_at_most_every_30_s(grid: dict[str, Any]) -> None:
    sent: list[StreamMessage] = []
    clock = FrozenClock(NOW)
    feed = TrafficFeed(lambda m: sent.append(m) or True, seed=SEED, clock=clock)
    feed(grid)
    first = len(sent)
    assert first == 4  # 83 entities in messages of at most 25
    clock.advance(10)
    feed(grid)
    assert len(sent) == first
    feed(grid["emergency"])  # an ambulance report goes at once
    assert len(sent) == first + 1
    assert [e["type"] for e in json.loads(sent[-1].payload)["entities"]] == ["EmergencyRun"]
    clock.advance(20)
    feed(grid)
    assert len(sent) == 2 * first + 1 and feed.sent == len(sent)


def test_the_stream_path_stores_them_and_the_home_page_shows_them(
    runtime: Runtime, client: TestClient, grid: dict[str, Any]
) -> None:
    seed_demo(runtime, seed=SEED, now=NOW, progress=False)  # datasets and provider keys only
    assert "traffic-panel" not in page(client).testids  # no live traffic yet: no panel

    sink = EntityStreamSink(runtime)
    dead = MemoryDeadLetterStore()
    batcher = MicroBatcher(
        sink, ack=lambda tokens: None, dead_letters=dead, validator=sink.validate
    )
    clock = FrozenClock(NOW + timedelta(hours=1))
    feed = TrafficFeed(lambda m: batcher.offer(m, None, timeout=30), seed=SEED, clock=clock)
    try:
        feed(grid)
        assert batcher.wait_idle(60)
    finally:
        batcher.close()
    assert [r.reason for r in dead.records] == []
    assert feed.sent == 4 and feed.refused == 0
    with runtime.reader() as s:
        stored = s.scalar(
            select(func.count(NgsiEntity.id)).where(
                NgsiEntity.dataset == DATASET, NgsiEntity.tenant == ""
            )
        )
    assert stored == 83

    with runtime.reader() as s:
        before = runtime.ledger.size(s)
    zh = page(client)
    with runtime.reader() as s:
        assert runtime.ledger.size(s) == before + 1  # the panel is an open-data read, ledgered
    report = grid["emergency"]
    assert zh.testids["traffic-index"] == f"{grid['congestion_index']:.2f}"
    assert zh.testids["traffic-controlled"] == "9"
    assert zh.testids["traffic-ambulance-time"] == f"{round(report['travel_time_s'])} 秒"
    assert "节省时间（估计）" in zh.testids["traffic-ambulance-saving"]
    assert t("home.traffic.title", "zh-CN") in zh.testids["traffic-panel"]
    en = page(client, "/?lang=en")
    assert "Traffic signals" in en.testids["traffic-panel"]
    assert en.testids["traffic-ambulance-time"] == f"{round(report['travel_time_s'])} s"
    saving = en.testids["traffic-ambulance-saving"]
    assert re.search(r"Time saved \(estimate\) [+−]?\d+ s", saving), saving
    assert en.testids["traffic-index"] == zh.testids["traffic-index"]


def test_the_panel_says_when_no_ambulance_has_arrived(
    runtime: Runtime, client: TestClient, grid: dict[str, Any]
) -> None:
    seed_demo(runtime, seed=SEED, now=NOW, progress=False)
    sink = EntityStreamSink(runtime)
    batcher = MicroBatcher(
        sink, ack=lambda tokens: None, dead_letters=MemoryDeadLetterStore(), validator=sink.validate
    )
    feed = TrafficFeed(lambda m: batcher.offer(m, None), seed=SEED, clock=FrozenClock(NOW))
    try:
        feed(grid | {"emergency": None})
        assert batcher.wait_idle(60)
    finally:
        batcher.close()
    zh, en = page(client), page(client, "/?lang=en")
    assert zh.attrs_of["traffic-ambulance"]["data-present"] == "no"
    assert zh.testids["traffic-ambulance-none"] == "暂无救护车"
    assert en.testids["traffic-ambulance-none"] == "No ambulance yet"


def _live_children() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == "citybrain-live-traffic"]


@pytest.mark.parametrize(("demo_setting", "demo_command"), [(False, True), (True, False)])
def test_no_live_traffic_without_the_demo(
    tmp_path: Path, demo_setting: bool, demo_command: bool
) -> None:
    """``CITYBRAIN_DEMO=false`` with ``up``, and ``serve`` (demo=False) start no live grid."""
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path, demo=demo_setting))
    rt.migrate()
    rt.bootstrap()
    background = Background(rt, create_app(rt), demo=demo_command)
    try:
        background.start()
        assert _live_children() == []
        assert not (tmp_path / "traffic").exists()
    finally:
        background.stop()
        rt.close()
