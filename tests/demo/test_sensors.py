"""The demo city's declarations and its simulated sensors (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from stdnum.cn import uscc

from citybrain.demo.city import (
    DATASETS,
    DIRTY_DATASET,
    DISTRICTS,
    LATE_DATASET,
    ORGS,
    STREAM_BY_DATASET,
    STREAMS,
    district_at,
)
from citybrain.demo.sensors import Simulation, build_sensors, reading, slot_times
from citybrain.hub.catalogue import vocab
from citybrain.hub.catalogue.schemas import DatasetIn
from citybrain.hub.catalogue.tableschema import validate_table_schema

NOW = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)  # 10:00 in Hangzhou
SEED = 42


def local(hour: int) -> datetime:
    """A UTC instant at ``hour`` o'clock Hangzhou time on the test day."""
    return datetime(2024, 5, 6, tzinfo=UTC) + timedelta(hours=hour - 8)


def violations(entity: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Table Schema constraint violations of an entity's attribute values."""
    out = []
    for field in schema["fields"]:
        c = field.get("constraints", {})
        attr = entity.get(field["name"])
        if attr is None:
            if c.get("required"):
                out.append(f"{field['name']}: missing")
            continue
        value = attr["value"]
        if "minimum" in c and value < c["minimum"]:
            out.append(f"{field['name']}: {value} < {c['minimum']}")
        if "maximum" in c and value > c["maximum"]:
            out.append(f"{field['name']}: {value} > {c['maximum']}")
        if "enum" in c and value not in c["enum"]:
            out.append(f"{field['name']}: {value} not in enum")
    return out


def test_organisations_have_valid_unique_credit_codes() -> None:
    codes = [o.code for o in ORGS]
    assert len(ORGS) >= 12
    assert all(len(c) == 18 and uscc.is_valid(c) for c in codes)
    assert len(set(codes)) == len(codes)
    names = {o.name for o in ORGS}
    assert {"杭州市公安局交通警察支队", "杭州市生态环境局", "杭州市数据资源管理局"} <= names
    assert {o.kind for o in ORGS} >= {"department", "enterprise"}


def test_every_dataset_is_a_valid_registration() -> None:
    slugs = [d.slug for d in DATASETS]
    assert len(set(slugs)) == len(slugs)
    providers = {o.key for o in ORGS}
    for spec in DATASETS:
        body = DatasetIn.model_validate(spec.body())
        assert body.title_zh and body.title_en and body.description_en
        assert spec.provider in providers
        vocab.theme_code(spec.theme)
        vocab.grade_code(spec.grade)
        vocab.sharing_code(spec.sharing)
        vocab.parse_duration(spec.update_frequency)
        assert validate_table_schema(spec.schema)["fields"]
    closed = [d for d in DATASETS if d.sharing == "none"]
    assert len(closed) == 1 and closed[0].legal_basis and not closed[0].open_data
    assert any(d.open_data for d in DATASETS) and any(not d.open_data for d in DATASETS)
    # every organisation provides at least one dataset
    assert {d.provider for d in DATASETS} == providers


def test_districts_lie_around_hangzhou_and_do_not_overlap() -> None:
    assert len(DISTRICTS) == 6
    for d in DISTRICTS:
        x0, y0, x1, y1 = d.bbox()
        assert 120.0 <= x0 < x1 <= 120.4 and 30.1 <= y0 < y1 <= 30.4
        ring = d.closed()
        assert ring[0] == ring[-1] and len(ring) >= 5
    hits = 0
    for i in range(1, 80):
        for j in range(1, 60):
            lon, lat = 120.0 + i * 0.005 + 0.0001, 30.1 + j * 0.005 + 0.0001
            inside = [d.code for d in DISTRICTS if d.contains(lon, lat)]
            assert len(inside) <= 1, (lon, lat, inside)
            hits += len(inside)
    assert hits > 1500  # most of the box is covered


def test_sensors_sit_inside_districts_with_stable_ids() -> None:
    for stream in STREAMS:
        sensors = build_sensors(SEED, stream)
        assert len(sensors) == stream.count
        other = build_sensors(SEED + 1, stream)
        assert [s.entity_id for s in sensors] == [s.entity_id for s in other]
        assert [(s.lon, s.lat) for s in sensors] != [(s.lon, s.lat) for s in other]
        for s in sensors:
            assert s.entity_id == f"urn:ngsi-ld:{stream.spec.entity_type}:{s.code}"
            found = district_at(s.lon, s.lat)
            assert found is not None and found.code == s.district
        assert sum(s.silent for s in sensors) == stream.silent


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s.dataset)
def test_schema_fields_match_attributes_and_every_attribute_is_observed(stream: Any) -> None:
    sim = Simulation(SEED)
    fields = set(stream.spec.field_names())
    seen: set[str] = set()
    for sensor in sim.sensors[stream.dataset]:
        for hour in range(0, 24, 3):
            e = reading(SEED, sensor, local(hour), dirty=stream.dirty)
            attrs = set(e) - {"id", "type"}
            assert attrs <= fields
            seen |= attrs
            assert e["id"] == sensor.entity_id and e["type"] == stream.spec.entity_type
            assert e["location"]["type"] == "GeoProperty"
            assert e["location"]["value"] == {
                "type": "Point",
                "coordinates": [sensor.lon, sensor.lat],
            }
            for name in attrs:
                assert e[name]["observedAt"] == local(hour).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert seen == fields


@pytest.mark.parametrize("stream", [s for s in STREAMS if not s.dirty], ids=lambda s: s.dataset)
def test_clean_streams_respect_their_table_schema_all_day(stream: Any) -> None:
    sim = Simulation(SEED)
    for sensor in sim.sensors[stream.dataset]:
        for minute in range(0, 24 * 60, 20):
            e = reading(SEED, sensor, local(0) + timedelta(minutes=minute))
            assert violations(e, stream.spec.schema) == []


def test_only_the_dirty_provider_sends_dirty_values() -> None:
    stream = STREAM_BY_DATASET[DIRTY_DATASET]
    sim = Simulation(SEED)
    found: list[str] = []
    for report in sim.reports(NOW - timedelta(hours=6), NOW):
        for group in report.groups:
            for e in group:
                problems = violations(e, report.stream.spec.schema)
                if report.stream is not stream:
                    assert problems == []
                found += problems
    assert any(p == "pm25: -5 < 0" for p in found)
    assert any(p == "pm25: 9999 > 1000" for p in found)
    assert any(p.endswith(": missing") for p in found)
    assert any(p.startswith("temperature:") for p in found)


def test_numbers_follow_the_day() -> None:
    sim = Simulation(SEED)

    def mean(dataset: str, attr: str, hour: int) -> float:
        values = [
            reading(SEED, s, local(hour) + timedelta(minutes=m))[attr]["value"]
            for s in sim.sensors[dataset]
            for m in (0, 10, 20)
        ]
        return sum(values) / len(values)

    assert mean("traffic-flow", "intensity", 8) > 2 * mean("traffic-flow", "intensity", 3)
    assert mean("traffic-flow", "congestionIndex", 18) > mean("traffic-flow", "congestionIndex", 3)
    assert mean("traffic-flow", "averageVehicleSpeed", 3) > mean(
        "traffic-flow", "averageVehicleSpeed", 8
    )
    assert mean("public-parking", "occupancy", 14) > mean("public-parking", "occupancy", 3) + 0.3
    assert mean("air-quality", "o3", 15) > 2 * mean("air-quality", "o3", 3)
    assert mean("air-quality", "temperature", 15) > mean("air-quality", "temperature", 4) + 6


def test_readings_are_deterministic_per_seed() -> None:
    sensor = Simulation(SEED).sensors["air-quality"][0]
    assert reading(SEED, sensor, NOW) == reading(SEED, sensor, NOW)
    assert reading(SEED, sensor, NOW) != reading(SEED + 1, sensor, NOW)
    assert reading(SEED, sensor, NOW) != reading(SEED, sensor, NOW + timedelta(minutes=5))


def test_late_provider_declares_five_minutes_but_reports_about_every_twenty() -> None:
    stream = STREAM_BY_DATASET[LATE_DATASET]
    declared = vocab.parse_duration(stream.spec.update_frequency)
    assert declared == timedelta(minutes=5)
    times = slot_times(SEED, stream, NOW - timedelta(hours=6), NOW)
    assert 17 <= len(times) <= 19
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert all(1200 - 180 < g < 1200 + 180 for g in gaps)
    assert min(gaps) > 3 * declared.total_seconds()
    assert any(t.second != 0 for t in times)  # not on the minute: real devices drift
    for other in STREAMS:
        if other is not stream:
            period = vocab.parse_duration(other.spec.update_frequency).total_seconds()
            assert other.period_s == period


def test_two_car_parks_fall_silent() -> None:
    stream = STREAM_BY_DATASET[LATE_DATASET]
    sim = Simulation(SEED)
    silent_ids = {s.entity_id for s in sim.sensors[stream.dataset] if s.silent}
    assert len(silent_ids) == 2
    silent_from = NOW - timedelta(hours=2)
    for report in sim.reports(NOW - timedelta(hours=6), NOW, silent_from):
        if report.stream is not stream:
            continue
        ids = {e["id"] for g in report.groups for e in g}
        if report.time >= silent_from:
            assert ids.isdisjoint(silent_ids) and len(ids) == stream.count - 2
        else:
            assert silent_ids <= ids
