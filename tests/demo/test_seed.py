"""Seeding the demo city into a real runtime (SQLite and PostgreSQL): once, and only once."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy import func, select

from citybrain.demo.city import DATASETS, ORGS, SIGNING_ORGS
from citybrain.demo.messages import verify_payload
from citybrain.demo.seed import backfill_messages, demo_batches, seed_demo
from citybrain.hub.catalogue import service as catalogue
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.ingest.models import DatasetRecord, IngestBatch, ProviderKey
from citybrain.hub.stream.batcher import StreamMessage
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime
from citybrain.ledger.models import LedgerEntry

NOW = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
SEED = 2024


def counts(rt: Runtime) -> dict[str, int]:
    with rt.reader() as s:
        return {
            "orgs": s.scalar(select(func.count(Organisation.id))) or 0,
            "datasets": s.scalar(select(func.count(Dataset.id))) or 0,
            "batches": s.scalar(select(func.count(IngestBatch.id))) or 0,
            "keys": s.scalar(select(func.count(ProviderKey.id))) or 0,
            "records": s.scalar(select(func.count(DatasetRecord.id))) or 0,
            "ledger": rt.ledger.size(s),
        }


def test_seed_builds_the_city_once(runtime: Runtime) -> None:
    before = counts(runtime)
    sent: list[StreamMessage] = []

    def offer(m: StreamMessage) -> bool:
        sent.append(m)
        return True

    started = time.monotonic()
    summary = seed_demo(runtime, seed=SEED, now=NOW, offer=offer, progress=False)
    assert time.monotonic() - started < 20
    assert summary.organisations_created == len(ORGS)
    assert summary.datasets_created == len(DATASETS)
    assert summary.keys_registered == len(SIGNING_ORGS)
    assert summary.batches_created == 2
    assert summary.messages_refused == 0
    expected = backfill_messages(SEED, NOW)
    assert summary.messages_offered == len(sent) == len(expected)
    assert [m.payload for m in sent] == [m.payload for m in expected]

    after = counts(runtime)
    assert after["orgs"] == before["orgs"] + len(ORGS)
    assert after["datasets"] == before["datasets"] + len(DATASETS)
    assert after["batches"] == before["batches"] + 2
    assert after["keys"] == before["keys"] + len(SIGNING_ORGS)
    # one ledger entry per governed action, all by the local operator under this seed's request
    assert after["ledger"] == before["ledger"] + summary.created
    with runtime.reader() as s:
        entries = s.scalars(select(LedgerEntry).where(LedgerEntry.seq >= before["ledger"])).all()
        assert {e.actor for e in entries} == {SYSTEM_ACTOR}
        assert {e.request_id for e in entries} == {f"demo-seed-{SEED}"}
        assert {e.action for e in entries} == {"admin", "collect"}

        root = runtime.settings.city_code
        for spec in ORGS:
            org = s.scalar(select(Organisation).where(Organisation.code == spec.code))
            assert org is not None and org.name == spec.name and org.parent is not None
            assert org.parent.code == root

        for spec in DATASETS:
            out = catalogue.dataset_out(catalogue.get_dataset(s, spec.slug))
            assert out.provider.code == spec.provider_code
            assert out.title.en == spec.title_en
            assert [f["name"] for f in out.table_schema["fields"]] == spec.field_names()
        closed = catalogue.dataset_out(catalogue.get_dataset(s, "household-registration"))
        assert closed.sharing.code == "none" and closed.legal_basis and not closed.open_data
        found = catalogue.search(s, q="空气质量")
        assert {h.id for h in found.items} >= {"air-quality"}

        batches = {b.dataset_id: b for b in s.scalars(select(IngestBatch))}
        register = batches["enterprise-register"]
        assert register.encoding == "utf-8" and register.signature_verified is True
        assert register.rows_accepted == register.rows_total == 200
        hospitals = batches["medical-institutions"]
        assert hospitals.encoding == "gbk" and hospitals.signature is None
        assert hospitals.rows_quarantined == 0 and hospitals.rows_accepted > 20
        first = s.scalar(
            select(DatasetRecord.payload).where(
                DatasetRecord.dataset_id == "medical-institutions",
                DatasetRecord.record_key == "330100-H001",
            )
        )
        assert first is not None and first["name"] == "杭州市第一人民医院"

        # every signed message verifies with the key registered for its organisation
        keys = {k.organisation: k.public_key for k in s.scalars(select(ProviderKey))}
    for m in sent:
        body = json.loads(m.payload)
        if "sig" in body:
            assert verify_payload(body, keys[m.org or ""])

    # a second run creates nothing and ledgers nothing; its messages are the same messages
    again: list[StreamMessage] = []
    second = seed_demo(runtime, seed=SEED, now=NOW, offer=again.append, progress=False)
    assert second.created == 0
    assert counts(runtime) == after
    assert summary.describe("en").startswith("Demo city ready: 13 organisations")
    assert "新建 0 个机构" in second.describe("zh-CN")
    assert [m.payload for m in again] == [m.payload for m in sent]


def test_seed_without_a_collector_shows_progress(runtime: Runtime) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    summary = seed_demo(runtime, seed=1, now=NOW, console=console)
    assert summary.messages_offered == 0 and summary.datasets_created == len(DATASETS)
    text = out.getvalue()
    assert "创建演示城市" in text
    steps = len(ORGS) + len(DATASETS) + len(SIGNING_ORGS) + len(demo_batches(1))
    assert f"{steps}/{steps}" in text
    # a different seed signs with other keys: they are added beside the first seed's, and its
    # batches (other bytes) are stored as new batches
    other = seed_demo(runtime, seed=2, now=NOW, progress=False)
    assert other.organisations_created == 0 and other.datasets_created == 0
    assert other.keys_registered == len(SIGNING_ORGS)
    assert other.batches_created == len(demo_batches(2))
