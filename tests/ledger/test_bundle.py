"""Evidence bundles: built from the log, checked offline; every forgery is caught and named."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.kernel.db import make_engine, session_factory
from citybrain.ledger.bundle import attachment, build_bundle, verify_bundle
from citybrain.ledger.entry import EntryData
from citybrain.ledger.models import LedgerBase
from citybrain.ledger.service import Ledger
from citybrain.ledger.signing import CheckpointSigner

SIGNER = CheckpointSigner.generate()
T0 = datetime(2026, 3, 1, 3, 0, 0, tzinfo=UTC)


def _entry(i: int) -> EntryData:
    return EntryData(
        actor=f"clerk{i % 3}",
        organisation="91330100MA00000001",
        action="share",
        resource=f"Dataset/parking-{i % 5}",
        purpose=f"data.read: grant {i} · 统计 statistics",
        decision="allow" if i % 4 else "deny",
        policy_ids=("sharing-use-through-live-grant",),
        request_id=f"req-{i}",
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A log of 37 entries with checkpoints at 20 and 37; an export of both."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('bundle')}/l.db")
    LedgerBase.metadata.create_all(engine)
    factory = session_factory(engine)
    ticks = iter(range(10_000))
    ledger = Ledger(
        SIGNER, origin="citybrain.test/bundle", clock=lambda: T0 + timedelta(seconds=next(ticks))
    )
    with factory.begin() as s:
        ledger.append_many(s, [_entry(i) for i in range(20)])
        ledger.checkpoint(s, force=True)
        ledger.append_many(s, [_entry(i) for i in range(20, 37)])
        cp = ledger.checkpoint(s, force=True)
        assert cp is not None
        quality = attachment("quality", "round 7", {"dataset": "parking-1", "score": 0.62})
        bundle = build_bundle(
            ledger, s, [3, 11, 36], cp, subject={"finding": 1}, attachments=[quality]
        )
        export = ledger.export_checkpoints(s)
        with pytest.raises(ValueError, match="seqs"):
            build_bundle(ledger, s, [37], cp)
    engine.dispose()
    return {"bundle": bundle, "export": export}


def test_a_bundle_verifies_offline_pinned_by_key_or_by_export(world: dict[str, Any]) -> None:
    bundle, export = world["bundle"], world["export"]
    assert [e["seq"] for e in bundle["entries"]] == [3, 11, 36]
    assert verify_bundle(bundle).ok
    assert verify_bundle(bundle, public_key_b64=SIGNER.public_key_b64).ok
    report = verify_bundle(bundle, export=export)
    assert report.ok and report.size == 37


def _forged(bundle: dict[str, Any], change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(bundle)
    change(doc)
    return doc


def test_each_kind_of_forgery_is_named(world: dict[str, Any]) -> None:
    bundle, export = world["bundle"], world["export"]

    def other_actor(d: dict[str, Any]) -> None:
        d["entries"][1]["actor"] = "someone-else"

    def reordered_path(d: dict[str, Any]) -> None:
        d["entries"][0]["path"].reverse()

    def bad_signature(d: dict[str, Any]) -> None:
        sig = bytearray(base64.b64decode(d["checkpoint"]["signature"]))
        sig[10] ^= 1
        d["checkpoint"]["signature"] = base64.b64encode(bytes(sig)).decode()

    def invented_entry(d: dict[str, Any]) -> None:
        fake = dict(d["entries"][0], seq=5, request_id="req-forged")
        d["entries"].append(fake)

    def tampered_attachment(d: dict[str, Any]) -> None:
        d["attachments"][0]["content"]["score"] = 0.99

    cases = {
        other_actor: "entry 11: fields do not match its hash",
        reordered_path: "entry 3: not in the signed tree",
        bad_signature: "checkpoint: bad signature",
        invented_entry: "entry 5: fields do not match its hash",
        tampered_attachment: "attachment 0: content does not match",
    }
    for change, reason in cases.items():
        report = verify_bundle(_forged(bundle, change), export=export)
        assert not report.ok and report.reason == reason, (change.__name__, report)


def test_a_bundle_resigned_by_another_key_fails_against_the_trusted_key(
    world: dict[str, Any],
) -> None:
    bundle, export = world["bundle"], world["export"]
    mallory = CheckpointSigner.generate()
    doc = copy.deepcopy(bundle)
    doc["entries"][0]["actor"] = "nobody"
    # Mallory rebuilds a whole consistent log of her own, so she needs her own key.
    doc["public_key"], doc["key_id"] = mallory.public_key_b64, mallory.key_id
    doc["checkpoint"]["key_id"] = mallory.key_id
    assert verify_bundle(doc, public_key_b64=SIGNER.public_key_b64).reason == (
        "bundle is signed by another key than the trusted one"
    )
    assert verify_bundle(doc, export=export).reason == (
        "bundle is signed by another log than the checkpoint export"
    )


def test_a_root_that_contradicts_the_export_is_refused(world: dict[str, Any]) -> None:
    doc = copy.deepcopy(world["bundle"])
    doc["checkpoint"]["root_hash"] = "00" * 32
    report = verify_bundle(doc, export=world["export"])
    assert not report.ok and "root differs from the exported one" in report.reason


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.integers(0, 2),
    field=st.sampled_from(
        ["actor", "organisation", "resource", "purpose", "decision", "request_id", "ts"]
    ),
    data=st.data(),
)
def test_any_change_to_an_entry_field_fails(
    world: dict[str, Any], which: int, field: str, data: st.DataObject
) -> None:
    doc = copy.deepcopy(world["bundle"])
    entry = doc["entries"][which]
    if field == "decision":
        entry[field] = "deny" if entry[field] == "allow" else "allow"
    elif field == "ts":
        entry[field] = entry[field].replace(":0", ":5", 1)
    else:
        new = data.draw(st.text(min_size=1, max_size=20).filter(lambda s: s != entry[field]))
        entry[field] = new
    report = verify_bundle(doc, export=world["export"])
    assert not report.ok
    assert report.first_bad_seq == entry["seq"] or report.reason.startswith("malformed")


@pytest.mark.parametrize("junk", [{}, {"format": "x"}, {"format": "citybrain-evidence/1"}])
def test_malformed_bundles_are_refused_not_crashed(junk: dict[str, Any]) -> None:
    assert not verify_bundle(junk).ok


def test_cli_verify_bundle_exit_codes(world: dict[str, Any], tmp_path: Path) -> None:
    good, cps, forged = tmp_path / "b.json", tmp_path / "cp.json", tmp_path / "f.json"
    good.write_text(json.dumps(world["bundle"], ensure_ascii=False), encoding="utf-8")
    cps.write_text(json.dumps(world["export"]), encoding="utf-8")
    doc = copy.deepcopy(world["bundle"])
    doc["entries"][2]["purpose"] = "data.read: grant 36 · 其他 other"
    forged.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "citybrain.cli", "ledger", "verify-bundle", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    ok = run(str(good), "--checkpoints", str(cps))
    assert ok.returncode == 0 and "3 entries" in ok.stdout, ok.stderr
    bad = run(str(forged), "--checkpoints", str(cps))
    assert bad.returncode == 1 and "entry 36" in bad.stderr, bad.stderr
    missing = run(str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
