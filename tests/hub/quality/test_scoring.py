"""Scoring over hand-built fixtures (SQLite and PostgreSQL): a punctual signed provider scores
100; a late one loses timeliness, a dirty one accuracy, an unsigned one authenticity, silent
entities and empty required fields completeness; alerts come once and clear on recovery."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from citybrain.hub.quality import service
from citybrain.hub.quality.models import QualityAlert, QualityScore
from citybrain.hub.quality.monitor import QualityAlertRaised, QualityMonitor
from citybrain.hub.quality.rules import RULES, split
from citybrain.kernel.db import Base
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.events import Event
from tests.helpers import applied_revisions
from tests.hub.quality.conftest import City, good_row

HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)


def scores(city: City, window: timedelta = HOUR, **at: Any) -> dict[str, dict[str, Any]]:
    """dataset → dimension → card, computed at ``city.now`` (or ``at['now']``)."""
    with city.runtime.reader() as s:
        cards = service.compute_round(s, at.get("now", city.now), window=window)
    out: dict[str, dict[str, Any]] = {}
    for c in cards:
        out.setdefault(c.dataset, {})[c.dimension] = c
    return out


def rules_of(card: Any) -> dict[str, Any]:
    return {e.rule: e for e in card.evidence}


def fresh_entities(city: City, slug: str, org: str, n: int, **values: Any) -> list[str]:
    ids = [f"urn:ngsi-ld:Air:{slug}:{i}" for i in range(n)]
    for i, ident in enumerate(ids):
        v = {"pm25": 20.0, "level": "good", "code": "HZ001"} | values
        city.entity(slug, org, ident, 2 * MIN, v, at=(120.0 + i * 0.01, 30.0))
    return ids


def test_punctual_signed_provider_scores_100(city: City) -> None:
    org = city.org(300)
    city.dataset("air", org)
    city.punctual("air", org, records=[good_row(i) for i in range(3)])
    fresh_entities(city, "air", org, 4)
    got = scores(city)["air"]
    assert {d: c.score for d, c in got.items()} == {
        "timeliness": 100,
        "completeness": 100,
        "accuracy": 100,
        "authenticity": 100,
    }
    assert all(e.points == 0 for c in got.values() for e in c.evidence)
    assert got["timeliness"].provider == org
    assert got["timeliness"].window_end == city.now
    assert got["timeliness"].window_start == city.now - HOUR


def test_late_provider_loses_timeliness_with_the_lag_named(city: City) -> None:
    org = city.org(300)
    city.dataset("late", org)
    ids = [city.batch("late", org, 2 * HOUR + 5 * k * MIN, ledger_seq=900 + k) for k in range(12)]
    city.dataset("slow", org)
    city.punctual("slow", org, hours=1)  # one batch every 5 minutes, newest a minute ago ...
    city.batch("slow", org, 20 * MIN)
    got = scores(city)
    late = got["late"]["timeliness"]
    lag = rules_of(late)["lag"]
    assert lag.points == 40  # 24 periods late: capped
    assert "2.0 h" in lag.detail_en and "2.0 小时" in lag.detail_zh
    assert lag.refs == [f"batch:{ids[0]}", "ledger:900"]
    missing = rules_of(late)["missing_reports"]
    assert missing.points == 30 and "12 of 12" in missing.detail_en
    assert late.score == 30
    assert got["slow"]["timeliness"].score == 100
    assert got["late"]["authenticity"].score == 100  # nothing arrived in the window


def test_lag_points_grow_with_the_delay(city: City) -> None:
    org = city.org(300)
    city.dataset("air", org)
    city.batch("air", org, 20 * MIN)  # 4 periods: 2.5 beyond the grace of 1.5 → 25 points
    city.batch("air", org, 25 * MIN)
    lag = rules_of(scores(city)["air"]["timeliness"])["lag"]
    assert lag.points == 25 and "4.0" in lag.detail_en


def test_no_data_at_all(city: City) -> None:
    org = city.org(300)
    city.dataset("empty", org)
    got = scores(city)["empty"]
    assert rules_of(got["timeliness"])["no_data"].points == 40
    assert got["timeliness"].score == 30
    assert got["completeness"].score == got["accuracy"].score == 100


def test_dirty_provider_loses_accuracy(city: City) -> None:
    org, other = city.org(300), city.org(301)
    city.dataset("dirty", org)
    bad_rows = [
        good_row(1) | {"pm25": -5.0},
        good_row(2) | {"pm25": 5000.0},
        good_row(3) | {"level": "terrible"},
        good_row(4) | {"code": "bad!"},
    ] + [good_row(i) for i in range(10, 26)]
    batches = [
        city.batch("dirty", org, (1 + 5 * k) * MIN, quarantined=2, ledger_seq=100 + k)
        for k in range(12)
    ]
    city.batch("dirty", org, 3 * MIN, rows=len(bad_rows), records=bad_rows)
    city.batch("dirty", org, 4 * MIN, rows=80, mode="stream")
    letters = city.dead_letter(org, "dirty", 10 * MIN, n=20)
    city.dead_letter(other, "dirty", 10 * MIN, n=50)  # someone else's topic
    city.dead_letter(org, "dirty2", 10 * MIN, n=50)  # another dataset
    city.dead_letter(org, "dirty", 3 * HOUR, n=50)  # before the window
    # two sensors at the same point of interest that disagree, two 30 m apart that agree,
    # two 2 km apart that disagree (not redundant), one pair 10 m apart that disagree
    city.entity("dirty", org, "urn:a1", MIN, {"pm25": 10.0}, at=(120.0, 30.0), poi="urn:poi:1")
    city.entity("dirty", org, "urn:a2", MIN, {"pm25": 50.0}, at=(120.05, 30.0), poi="urn:poi:1")
    city.entity("dirty", org, "urn:b1", MIN, {"pm25": 20.0}, at=(120.1001, 30.1))
    city.entity("dirty", org, "urn:b2", MIN, {"pm25": 21.0}, at=(120.10035, 30.1))
    city.entity("dirty", org, "urn:c1", MIN, {"pm25": 20.0}, at=(120.2, 30.2))
    city.entity("dirty", org, "urn:c2", MIN, {"pm25": 90.0}, at=(120.22, 30.2))
    city.entity("dirty", org, "urn:d1", MIN, {"pm25": 30.0}, at=(120.3, 30.3))
    city.entity("dirty", org, "urn:d2", MIN, {"pm25": 60.0}, at=(120.3001, 30.3))
    acc = scores(city)["dirty"]["accuracy"]
    found = {}
    for e in acc.evidence:
        found.setdefault(e.rule, []).append(e)
    quarantined = found["quarantined_rows"][0]
    assert "24 of 220" in quarantined.detail_en  # 12 batches × 2 of 220 rows received
    assert quarantined.points == round(125 * 24 / 220)
    assert f"batch:{batches[0]}" in quarantined.refs and "ledger:100" in quarantined.refs
    dead = found["dead_letters"][0]
    assert "20 stream messages" in dead.detail_en and "80 valid" in dead.detail_en
    assert dead.points == 15  # 20 / 100 × 75 = 15
    assert {f"dead-letter:{i}" for i in letters[-10:]} == set(dead.refs)
    ranges = {e.refs[0]: e for e in found["out_of_range"]}
    assert set(ranges) == {"field:pm25", "field:level", "field:code"}
    assert "2/" in ranges["field:pm25"].detail_en and "minimum=0" in ranges["field:pm25"].detail_en
    assert "enum=good|moderate|bad" in ranges["field:level"].detail_zh
    assert sum(e.points for e in found["out_of_range"]) == round(200 * 4 / 68)
    [inconsistent] = found["inconsistent_sources"]
    assert "2 of 3" in inconsistent.detail_en
    pairs = {"entity:urn:a1", "entity:urn:a2", "entity:urn:d1", "entity:urn:d2"}
    assert set(inconsistent.refs) == pairs
    assert inconsistent.points == 20  # 2/3 × 40 = 27, capped at 20
    assert acc.score == 100 - sum(e.points for e in acc.evidence)
    assert acc.evidence == sorted(acc.evidence, key=lambda e: -e.points)


def test_unsigned_provider_loses_authenticity(city: City) -> None:
    org = city.org(300)
    city.dataset("air", org)
    ids = {}
    for k in range(12):
        verified = None if k % 2 == 0 else k != 1
        ids[k] = city.batch("air", org, (1 + 5 * k) * MIN, verified=verified)
    auth = scores(city)["air"]["authenticity"]
    found = rules_of(auth)
    assert found["unsigned_rows"].points == 50 and "60 of 120" in found["unsigned_rows"].detail_en
    assert found["invalid_signature"].points == 8
    assert found["invalid_signature"].refs == [f"batch:{ids[1]}"]
    assert f"batch:{ids[0]}" in found["unsigned_rows"].refs
    assert auth.score == 42


def test_silent_entities_lower_completeness(city: City) -> None:
    org = city.org(300)
    city.dataset("air", org)
    city.punctual("air", org)
    fresh = fresh_entities(city, "air", org, 4)
    for i in range(4):
        city.entity("air", org, f"urn:silent:{i}", 40 * MIN, {"pm25": 1.0, "level": "good"})
    city.entity("air", org, "urn:gone", 5 * HOUR, {"pm25": 1.0, "level": "good"})
    got = scores(city)["air"]
    silent = rules_of(got["completeness"])["silent_entities"]
    assert "4 of 8" in silent.detail_en and silent.points == 20
    assert set(silent.refs) == {f"entity:urn:silent:{i}" for i in range(4)}
    assert not set(silent.refs) & {f"entity:{i}" for i in fresh}
    late = rules_of(got["timeliness"])["late_entities"]
    assert "5 of 9" in late.detail_en and "entity:urn:gone" in late.refs
    assert late.points == round(30 * 5 / 9)


def test_missing_required_fields_lower_completeness(city: City) -> None:
    org = city.org(300)
    city.dataset("air", org)
    rows = [good_row(i) for i in range(10)]
    for r in rows[:5]:
        r["pm25"] = None
    rows[5]["station"] = ""
    rows[6].pop("level")
    rows[7].pop("level")
    city.punctual("air", org)
    city.batch("air", org, MIN, records=rows)
    comp = scores(city)["air"]["completeness"]
    found = {e.refs[0]: e for e in comp.evidence}
    # 6 of 20 required cells are empty: 18 points, shared 5:1 between pm25 and station
    assert found["field:pm25"].points == 15 and "5/10" in found["field:pm25"].detail_en
    assert found["field:station"].points == 3
    assert found["field:level"].points == 0 and "20%" in found["field:level"].detail_en
    assert comp.score == 82


def test_alert_raised_once_and_cleared_on_recovery(city: City) -> None:
    rt = city.runtime
    org = city.org(300)
    city.dataset("air", org)
    city.batch("air", org, 3 * HOUR)
    events: list[Event] = []
    rt.bus.subscribe("hub.quality", events.append)
    monitor = QualityMonitor(rt, window=HOUR)
    with rt.factory() as s:
        before = rt.ledger.size(s)
    first = monitor.run_once(city.now)
    with rt.factory() as s:
        assert rt.ledger.size(s) == before + 1  # one round, one entry
        entry = rt.ledger.entries(s, before - 1, 1)[0]
    assert entry.data.purpose.startswith("quality.compute") and entry.data.actor == "system:cli"
    assert [(a.dataset, a.dimension) for a in first.raised] == [("air", "timeliness")]
    alert = first.raised[0]
    assert "air" in alert.message_zh and "及时性" in alert.message_zh
    assert "Timeliness score 30 is below the threshold 60" in alert.message_en
    assert [type(e) for e in events] == [QualityAlertRaised]
    assert events[0].alert_id == alert.id and events[0].score == 30  # type: ignore[attr-defined]

    second = monitor.run_once(city.now + MIN)
    assert second.raised == [] and second.resolved == []
    assert len(events) == 1
    city.punctual("air", org)  # the provider catches up
    third = monitor.run_once(city.now + MIN)
    assert [a.id for a in third.resolved] == [alert.id]
    fourth = monitor.run_once(city.now + 3 * HOUR)  # and falls behind again
    assert len(fourth.raised) == 1 and fourth.raised[0].id != alert.id
    with rt.reader() as s:
        alerts = s.scalars(select(QualityAlert).order_by(QualityAlert.id)).all()
        assert [a.resolved_at for a in alerts] == [city.now + MIN, None]
        assert len(service.list_alerts(s, open_only=True)) == 1
        assert len(service.list_alerts(s, org=org, open_only=False)) == 2
        assert service.list_alerts(s, org="nobody", open_only=False) == []
    assert len(events) == 2


def test_threshold_is_configurable_per_call(city: City) -> None:
    org = city.org(300)
    city.dataset("air", org)
    for k in range(12):
        city.batch("air", org, (1 + 5 * k) * MIN, verified=None if k == 0 else True)
    with city.runtime.reader() as s:
        cards = service.compute_round(s, city.now, window=HOUR)
    assert {c.dimension: c.score for c in cards}["authenticity"] == 92
    with city.runtime.factory.begin() as s:
        low = service.store_round(s, cards, round_id="r1", computed_at=city.now, threshold=60)
        assert low.raised == []
    with city.runtime.factory.begin() as s:
        high = service.store_round(s, cards, round_id="r2", computed_at=city.now, threshold=95)
        assert [a.dimension for a in high.raised] == ["authenticity"]
        assert high.raised[0].threshold == 95
    with city.runtime.factory.begin() as s, pytest.raises(InvalidInput):
        service.store_round(s, cards, round_id="r3", computed_at=city.now, threshold=101)


def test_history_and_latest(city: City) -> None:
    org, other = city.org(300), city.org(301)
    city.dataset("air", org)
    city.dataset("water", other, freq="PT1H")
    city.batch("air", org, 3 * HOUR)
    monitor = QualityMonitor(city.runtime, window=HOUR)
    r1 = monitor.run_once(city.now)
    city.punctual("air", org)
    r2 = monitor.run_once(city.now + MIN)
    with city.runtime.reader() as s:
        latest = service.latest_scores(s)
        assert {r.round_id for r in latest} == {r2.round_id}
        assert [(r.dataset, r.dimension) for r in latest[:4]] == [
            ("air", "timeliness"),
            ("air", "completeness"),
            ("air", "accuracy"),
            ("air", "authenticity"),
        ]
        assert {r.dataset for r in service.latest_scores(s, org=other)} == {"water"}
        past = service.history(s, "air", "timeliness")
        assert [(h.round_id, h.score) for h in past] == [(r1.round_id, 30), (r2.round_id, 100)]
        assert [h.round_id for h in service.history(s, "air", rounds=1)] == [r2.round_id] * 4
        assert service.history(s, "air", since=city.now + MIN)[0].round_id == r2.round_id
        trend = service.recent_history(s, rounds=30)
        assert trend[("air", "timeliness")] == [30, 100]
        stored = s.scalars(select(QualityScore).where(QualityScore.round_id == r1.round_id)).all()
        lag = next(r for r in stored if r.dimension == "timeliness").evidence[0]
        assert set(lag) == {"rule", "points", "detail_zh", "detail_en", "refs"}


def test_monitor_thread_runs_and_stops(city: City) -> None:
    org = city.org(300)
    city.dataset("air", org)
    monitor = QualityMonitor(city.runtime, interval_s=3600)
    monitor.start()
    try:
        for _ in range(200):
            if monitor.last is not None:
                break
            time.sleep(0.05)
        assert monitor.last is not None and len(monitor.last.cards) == 4
    finally:
        monitor.stop()


def test_rules_are_consistent() -> None:
    dims = {"timeliness", "completeness", "accuracy", "authenticity"}
    assert {r.dimension for r in RULES.values()} == dims
    assert split(18, [5, 1]) == [15, 3]
    assert sum(split(7, [1, 1, 1])) == 7
    assert split(0, [1, 2]) == [0, 0]


def test_models_match_the_migration(city: City) -> None:
    rt = city.runtime
    assert "0008" in applied_revisions(rt)
    tables = {"quality_scores", "quality_alerts"}
    with rt.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
        names = set(rt.engine.dialect.get_table_names(conn))
    assert names >= tables
    ours = [d for d in diffs if any(n in repr(d) for n in tables)]
    assert ours == []
