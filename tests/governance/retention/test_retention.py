"""Retention: terms set by the provider, expired records destroyed on schedule, each deletion
ledgered with its digest, and a signed certificate that checks out (and a forged one that
does not)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from citybrain.cli import app as cli_app
from citybrain.governance.jobs import run_governance_jobs
from citybrain.governance.retention import service
from citybrain.governance.sharing.models import ShareRequest
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.ledger.signing import CheckpointSigner
from tests.governance.conftest import ROWS, Sharing

DATASET = "assist-conditional"


def records(world: Sharing, dataset: str = DATASET) -> int:
    with world.runtime.reader() as s:
        return s.scalar(
            select(func.count(DatasetRecord.id)).where(DatasetRecord.dataset_id == dataset)
        )


def set_term(world: Sharing, who: str, days: int, dataset: str = DATASET) -> object:
    return world.client.put(
        f"/retention/rules/{dataset}",
        headers=world.h(who),
        json={"days": days, "reason": "《社会救助暂行办法》"},
    )


def test_the_provider_sets_the_term_others_cannot(sharing: Sharing) -> None:
    assert set_term(sharing, "health_clerk", 30).status_code == 403
    r = set_term(sharing, "civil_clerk", 30)
    assert r.status_code == 200 and r.json()["days"] == 30 and r.json()["set_by"] == "civil"
    assert set_term(sharing, "civil_clerk", 0).json()["field"] == "days"
    got = sharing.client.get(f"/retention/rules/{DATASET}", headers=sharing.h("auditor"))
    assert got.status_code == 200 and got.json()["days"] == 30
    missing = sharing.client.get("/retention/rules/assist-none", headers=sharing.h("operator"))
    assert missing.status_code == 404


def test_expired_records_are_destroyed_ledgered_and_certified(
    sharing: Sharing, tmp_path: Path
) -> None:
    rt = sharing.runtime
    set_term(sharing, "civil_clerk", 30)
    assert service.destroy_expired(rt, DATASET).certificate is None  # nothing expired yet
    later = rt.clock() + timedelta(days=31)
    result = service.destroy_expired(rt, DATASET, later)
    cert = result.certificate
    assert cert is not None and cert.count == ROWS
    assert records(sharing) == 0 and records(sharing, "assist-none") == ROWS
    assert service.destroy_expired(rt, DATASET, later).certificate is None  # idempotent
    with rt.factory() as s:
        entries = [e.data for e in rt.ledger.entries(s, -1, 100000)]
    deletion = [e for e in entries if e.request_id == cert.request_id]
    assert len(deletion) == 1 and deletion[0].action == "delete"
    assert f"digest {cert.digest}" in deletion[0].purpose

    # The provider downloads the certificate; it verifies, against the ledger too.
    listed = sharing.client.get("/retention/certificates", headers=sharing.h("civil_clerk"))
    assert [c["code"] for c in listed.json()["items"]] == [cert.code]
    other = sharing.client.get("/retention/certificates", headers=sharing.h("health_clerk"))
    assert other.json()["items"] == []
    doc = sharing.client.get(
        f"/retention/certificates/{cert.code}", headers=sharing.h("civil_clerk")
    ).json()
    assert doc["count"] == ROWS and len(doc["items"]) == ROWS
    assert service.verify_certificate(doc, rt.signer.public_key_b64) == []
    with rt.reader() as s:
        seq, problems = service.ledger_problems(s, doc)
    assert seq is not None and problems == []
    denied = sharing.client.get(
        f"/retention/certificates/{cert.code}", headers=sharing.h("health_clerk")
    )
    assert denied.status_code == 403

    # Forgeries: a record dropped from the list, a changed count, another signer.
    dropped = dict(doc, items=doc["items"][1:])
    assert "digest does not match the listed records" in service.verify_certificate(
        dropped, rt.signer.public_key_b64
    )
    inflated = dict(doc, count=ROWS + 1)
    assert service.verify_certificate(inflated, rt.signer.public_key_b64) != []
    stranger = CheckpointSigner.generate().public_key_b64
    assert service.verify_certificate(doc, stranger) == [
        "signature does not verify with the hub's public key"
    ]
    with rt.reader() as s:
        _, problems = service.ledger_problems(s, dict(doc, digest="0" * 64))
    assert problems and "another digest" in problems[0]

    # Offline, on the command line: exit 0 for the real one, 1 for the forgery.
    good, bad = tmp_path / "cert.json", tmp_path / "forged.json"
    good.write_text(json.dumps(doc), "utf-8")
    bad.write_text(json.dumps(dropped), "utf-8")
    runner = CliRunner()
    key = ["--public-key", rt.signer.public_key_b64, "--lang", "en"]
    ok = runner.invoke(cli_app, ["retention", "verify", str(good), *key])
    assert ok.exit_code == 0 and "signature and digest verified" in ok.output
    forged = runner.invoke(cli_app, ["retention", "verify", str(bad), *key])
    assert forged.exit_code == 1 and "digest does not match" in forged.output


def test_governance_jobs_lapse_and_destroy_in_one_pass(sharing: Sharing) -> None:
    set_term(sharing, "civil_clerk", 1)
    pending = sharing.request()
    run_governance_jobs(sharing.runtime)  # nothing due yet
    assert records(sharing) == ROWS
    later = sharing.runtime.clock() + timedelta(days=10)
    sharing.runtime.clock = lambda: later  # type: ignore[method-assign]
    run_governance_jobs(sharing.runtime)
    assert records(sharing) == 0
    with sharing.runtime.reader() as s:
        assert s.get(ShareRequest, pending["id"]).status == "lapsed"
