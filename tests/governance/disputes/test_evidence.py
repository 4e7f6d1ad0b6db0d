"""Evidence: who may cite which record, and the case's bundle — downloaded, ledgered, checked
offline against the ledger's checkpoint export; a tampered copy fails."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from citybrain.hub.ingest.models import IngestBatch
from citybrain.hub.quality.models import QualityScore
from citybrain.hub.quality.monitor import QualityMonitor
from citybrain.ledger.bundle import verify_bundle
from citybrain.ledger.models import LedgerEntry
from tests.governance.disputes.conftest import DATASET, Desk


def _export(desk: Desk) -> dict[str, Any]:
    with desk.runtime.reader() as s:
        return desk.runtime.ledger.export_checkpoints(s)


def _records(desk: Desk) -> tuple[IngestBatch, QualityScore, int]:
    """Civil's batch, one quality score of its dataset, and a ledger entry of health's."""
    QualityMonitor(desk.runtime).run_once()
    desk.h("doctor")  # health's token: a ledger entry of another organisation
    with desk.runtime.reader() as s:
        batch = s.scalars(select(IngestBatch)).one()
        score = s.scalars(
            select(QualityScore).where(
                QualityScore.dataset == DATASET, QualityScore.dimension == "completeness"
            )
        ).one()
        health_seq = s.scalar(
            select(LedgerEntry.seq).where(LedgerEntry.organisation == desk.orgs["health"])
        )
    assert health_seq is not None
    return batch, score, health_seq


def test_a_party_cites_its_own_records_the_bureau_any(desk: Desk) -> None:
    cid = desk.file().json()["id"]
    batch, score, health_seq = _records(desk)

    def cite(who: str, **body: Any) -> Any:
        return desk.post(cid, "evidence", who, body)

    r = cite("civil", ledger_seq=batch.ledger_seq)
    assert r.status_code == 201 and r.json()["kind"] == "ledger_entry", r.text
    r = cite("civil", quality_score_id=score.id, note="completeness was scored on old rows")
    assert r.status_code == 201, r.text
    quality = r.json()
    with desk.runtime.reader() as s:
        round_entry = s.get(LedgerEntry, quality["ledger_seq"])
    assert round_entry is not None and round_entry.resource == f"QualityRound/{score.round_id}"
    r = cite("civil", batch_id=batch.id)
    assert r.status_code == 201 and r.json()["ledger_seq"] == batch.ledger_seq, r.text

    assert cite("civil", ledger_seq=health_seq).json()["field"] == "ledger_seq"
    assert cite("civil", ledger_seq=health_seq).status_code == 403
    assert cite("civil", ledger_seq=10**9).status_code == 404
    assert cite("civil", quality_score_id=10**9).json()["field"] == "quality_score_id"
    duplicate = cite("civil", batch_id=batch.id)
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "batch_id"
    assert cite("civil").status_code == 422
    assert cite("civil", ledger_seq=1, batch_id=batch.id).status_code == 422
    r = cite("hub", ledger_seq=health_seq)  # the bureau (respondent here) cites any record
    assert r.status_code == 201 and r.json()["side"] == "respondent", r.text
    r = cite("sup1", ledger_seq=0)
    assert r.status_code == 201 and r.json()["side"] == "bureau", r.text

    # each citing action's ledger entry carries the record's hash
    case = desk.get(f"/disputes/{cid}", "civil").json()
    assert len(case["evidence"]) == 5
    with desk.runtime.reader() as s:
        for item, event in zip(
            case["evidence"], [e for e in case["timeline"] if e["kind"] == "evidence"], strict=True
        ):
            entry = s.get(LedgerEntry, event["ledger_seq"])
            assert entry is not None and f"sha256={item['sha256']}" in entry.purpose


def test_the_bundle_verifies_against_the_export_and_a_tampered_copy_fails(desk: Desk) -> None:
    cid = desk.file().json()["id"]
    batch, score, _ = _records(desk)
    for body in ({"ledger_seq": batch.ledger_seq}, {"quality_score_id": score.id}):
        assert desk.post(cid, "evidence", "civil", body).status_code == 201
    desk.post(cid, "accept", "sup1", {})

    r = desk.client.get(
        f"/disputes/{cid}/evidence-bundle", headers=desk.h("civil") | {"X-Request-ID": "dl-1"}
    )
    assert r.status_code == 200, r.text
    assert f"dispute-{cid}-evidence.json" in r.headers["content-disposition"]
    doc = r.json()
    export = _export(desk)
    report = verify_bundle(doc, export=export)
    assert report.ok, report.reason

    case = doc["subject"]["dispute"]
    assert case["id"] == cid and case["status"] == "under_review"
    wanted = {e["ledger_seq"] for e in case["evidence"]} | {
        e["ledger_seq"] for e in case["timeline"]
    }
    assert {e["seq"] for e in doc["entries"]} == wanted
    assert batch.ledger_seq in wanted and len(case["timeline"]) == 4  # filed, 2 evidence, accepted
    (quality,) = doc["attachments"]
    assert quality["kind"] == "quality_score" and quality["content"]["id"] == score.id
    assert quality["sha256"] == case["evidence"][1]["sha256"]

    def forged(change: Any) -> dict[str, Any]:
        copy_ = copy.deepcopy(doc)
        change(copy_)
        return copy_

    def better_score(d: dict[str, Any]) -> None:
        d["attachments"][0]["content"]["score"] = -1

    def other_actor(d: dict[str, Any]) -> None:
        d["entries"][0]["actor"] = "someone-else"

    for change, reason in (
        (better_score, "attachment 0: content does not match"),
        (other_actor, f"entry {doc['entries'][0]['seq']}: fields do not match its hash"),
    ):
        report = verify_bundle(forged(change), export=export)
        assert not report.ok and report.reason == reason

    with desk.runtime.reader() as s:
        download = s.scalars(select(LedgerEntry).where(LedgerEntry.request_id == "dl-1")).one()
    assert download.action == "export" and download.purpose.startswith("disputes.bundle")
    assert download.resource == f"DisputeCase/{cid}" and download.actor == "civil"

    # later steps need a newer checkpoint; the earlier bundle still checks against the new export
    desk.post(cid, "decision", "sup1", {"outcome": "upheld", "text": "支持"})
    later = desk.get(f"/disputes/{cid}/evidence-bundle", "aud").json()
    assert later["checkpoint"]["tree_size"] > doc["checkpoint"]["tree_size"]
    newer_export = _export(desk)
    assert verify_bundle(later, export=newer_export).ok
    assert verify_bundle(doc, export=newer_export).ok
