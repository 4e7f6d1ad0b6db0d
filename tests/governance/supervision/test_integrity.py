"""Findings checked against the ledger: the detector names each finding it opens in its signed
``supervision.detect`` entry, so ``citybrain supervision verify`` sees a finding deleted from
the table to hide it, and one slipped into the table behind the detector's back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete
from typer.testing import CliRunner

from citybrain.governance.supervision.cli import app as supervision_cli
from citybrain.governance.supervision.integrity import check_findings, id_ranges, parse_ids
from citybrain.governance.supervision.models import Finding, FindingEvidence
from tests.governance.conftest import Sharing
from tests.governance.supervision.conftest import MovableClock, local, move_to
from tests.governance.supervision.test_scenarios import GRANTED, findings, grant_for


@given(st.sets(st.integers(min_value=1, max_value=10**9), max_size=60))
def test_ranges_name_exactly_the_ids(ids: set[int]) -> None:
    text = id_ranges(sorted(ids))
    assert parse_ids(f"supervision.detect: {len(ids)} findings: {text}") == ids


def test_ranges_are_short_for_one_transaction() -> None:
    assert id_ranges([7, 3, 4, 5, 9, 10]) == "3-5, 7, 9-10"
    assert parse_ids("supervision.detect: 3 findings: 1, 2, 3") == {1, 2, 3}  # older entries
    assert parse_ids("sharing.read: grant 4") == set()


def test_a_deleted_or_forged_finding_shows(sharing: Sharing, clock: MovableClock) -> None:
    grant = grant_for(sharing, GRANTED)
    revoked = sharing.client.post(
        f"/sharing/grants/{grant}/revoke", headers=sharing.h("civil_clerk"), json={"reason": "x"}
    )
    assert revoked.status_code == 200
    move_to(sharing, clock, local(0, 11))
    for _ in range(3):
        assert sharing.read(grant, fields=",".join(GRANTED)).status_code == 403
    found = findings(sharing)
    assert len(found) == 3
    rt = sharing.runtime
    where = ["--db", rt.settings.database_url, "--data-dir", str(rt.settings.data_dir)]
    runner = CliRunner(env={"COLUMNS": "200"})
    good = runner.invoke(supervision_cli, ["verify", "--lang", "en", *where])
    assert good.exit_code == 0, good.output
    assert "3 findings" in good.output and "intact" in good.output

    hidden = found[1]["id"]
    with rt.factory.begin() as s:  # someone with database access hides a finding
        s.execute(delete(FindingEvidence).where(FindingEvidence.finding_id == hidden))
        s.execute(delete(Finding).where(Finding.id == hidden))
    bad = runner.invoke(supervision_cli, ["verify", "--lang", "en", *where])
    assert bad.exit_code == 1
    assert f"gone from the table: {hidden}" in bad.output

    with rt.factory.begin() as s:  # and slips one in, to blame someone
        row = s.get(Finding, found[0]["id"])
        assert row is not None
        forged = Finding(
            **{
                c: getattr(row, c)
                for c in Finding.__table__.columns.keys()  # noqa: SIM118
                if c not in ("id", "key")
            },
            key="forged",
        )
        s.add(forged)
        s.flush()
        forged_id = forged.id
    with rt.reader() as s:
        check = check_findings(s)
    assert (check.missing, check.unledgered) == ([hidden], [forged_id])
    assert not check.ok
    zh = runner.invoke(supervision_cli, ["verify", *where])
    assert zh.exit_code == 1 and "从未由检测器记入台账" in zh.output
