"""The CLI: list and show cases, write a bundle that `citybrain ledger verify-bundle` accepts
(and a tampered copy it refuses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from citybrain.cli import app as citybrain_app
from citybrain.governance.disputes.cli import app as disputes_app
from tests.governance.disputes.conftest import Desk


def test_cli_lists_shows_and_writes_a_bundle_that_verifies(
    desk: Desk, settings_kwargs: dict[str, object], tmp_path: Path
) -> None:
    desk.clock.now = datetime.now(UTC)  # the CLI reads the system clock
    cid = desk.file().json()["id"]
    desk.post(cid, "evidence", "civil", {"batch_id": 1})
    where = ["--data-dir", str(settings_kwargs["data_dir"]), "--db", str(settings_kwargs["db"])]
    runner = CliRunner(env={"COLUMNS": "200"})

    listed = runner.invoke(disputes_app, ["list", "--json", *where])
    assert listed.exit_code == 0, listed.output
    assert [c["id"] for c in json.loads(listed.output)] == [cid]
    table = runner.invoke(disputes_app, ["list", "--lang", "en", *where])
    assert table.exit_code == 0 and "rejected batch" in table.output, table.output
    zh = runner.invoke(disputes_app, ["list", "--overdue", "--lang", "zh-CN", *where])
    assert zh.exit_code == 0 and "暂无数据纠纷案件" in zh.output, zh.output
    shown = runner.invoke(disputes_app, ["show", str(cid), *where])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["evidence"][0]["kind"] == "batch"

    bundle, export, forged = tmp_path / "b.json", tmp_path / "cp.json", tmp_path / "f.json"
    wrote = runner.invoke(disputes_app, ["bundle", str(cid), "--out", str(bundle), *where])
    assert wrote.exit_code == 0, wrote.output
    exported = runner.invoke(citybrain_app, ["ledger", "export", "--out", str(export), *where])
    assert exported.exit_code == 0, exported.output
    doc = json.loads(bundle.read_text("utf-8"))
    assert doc["subject"]["dispute"]["id"] == cid and len(doc["attachments"]) == 1
    ok = runner.invoke(
        citybrain_app, ["ledger", "verify-bundle", str(bundle), "--checkpoints", str(export)]
    )
    assert ok.exit_code == 0 and "bundle intact" in ok.output, ok.output
    doc["attachments"][0]["content"]["rows_accepted"] += 1
    forged.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    bad = runner.invoke(
        citybrain_app, ["ledger", "verify-bundle", str(forged), "--checkpoints", str(export)]
    )
    assert bad.exit_code == 1
    missing = runner.invoke(disputes_app, ["show", "99", *where])
    assert missing.exit_code != 0
