"""Duties left undone on the clock: a risk bulletin (Art17) nobody acknowledged, a dispute step
(Art18) the bureau let run late — each through the real routes, one finding per duty, never
twice; a rule switched off or given grace raises nothing early; bad parameters are refused
naming the field; the CLI's reads of findings and evidence are ledgered."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citybrain.governance.supervision import rules
from citybrain.governance.supervision.cli import app as supervision_cli
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity import service as identity
from citybrain.kernel.runtime import SYSTEM_ACTOR
from citybrain.ledger.models import LedgerEntry
from tests.governance.conftest import Sharing
from tests.governance.supervision.conftest import MovableClock, local, move_to
from tests.helpers import credit_code


def findings(world: Sharing) -> list[dict[str, Any]]:
    """Scan now, then every finding the supervisor sees."""
    h = world.h("admin")
    assert world.client.post("/supervision/scan", headers=h).status_code == 200
    r = world.client.get("/supervision/findings", headers=h, params={"limit": 500})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


def bulletin(world: Sharing, orgs: list[str], deadline: datetime) -> int:
    """The bureau's operator issues a bulletin to ``orgs``; returns its id."""
    body = {
        "title_zh": "摄像头固件漏洞",
        "title_en": "Camera firmware flaw",
        "body_zh": "请立即升级固件。",
        "severity": "high",
        "audience": "chosen",
        "organisations": orgs,
        "ack_deadline": deadline.isoformat(),
    }
    r = world.client.post("/security/bulletins", headers=world.h("operator"), json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def ack(world: Sharing, bulletin_id: int, who: str) -> None:
    r = world.client.post(f"/security/bulletins/{bulletin_id}/ack", headers=world.h(who))
    assert r.status_code == 200, r.text


def enterprise(world: Sharing) -> str:
    """An enterprise (not an official body); returns its code."""
    code = credit_code(909)
    with world.runtime.gate.system(
        SYSTEM_ACTOR, code, "org.create", Resource("Org", code), request_id="t"
    ) as s:
        identity.create_organisation(
            s, code=code, name="某科技公司", kind="enterprise", level="department"
        )
    return code


def change(world: Sharing, code: str, body: dict[str, Any]) -> Any:
    return world.client.put(f"/supervision/rules/{code}", headers=world.h("admin"), json=body)


def test_a_bulletin_one_organisation_never_acknowledges(
    sharing: Sharing, clock: MovableClock
) -> None:
    vendor = enterprise(sharing)
    move_to(sharing, clock, local(0, 10))
    addressed = [sharing.civil, sharing.health, sharing.transport, vendor]
    bid = bulletin(sharing, addressed, deadline=local(0, 18))
    move_to(sharing, clock, local(0, 11))
    ack(sharing, bid, "health_clerk")  # in time
    move_to(sharing, clock, local(0, 17, 59))
    assert findings(sharing) == []  # before the deadline nobody is late
    move_to(sharing, clock, local(0, 20))
    ack(sharing, bid, "transport_clerk")  # late, but before any sweep found it outstanding
    move_to(sharing, clock, local(1, 9))
    found = findings(sharing)
    # civil affairs never answered; the enterprise neither, but Art24 is not about that
    assert [(f["rule"], f["article"], f["organisation"], f["resource"]) for f in found] == [
        ("bulletin-unacknowledged", "23(6)", sharing.civil, f"RiskBulletin/{bid}")
    ]
    first = found[0]
    assert first["severity"] == "medium" and first["actor"] == sharing.civil
    assert first["facts"] == {
        "bulletin": bid,
        "title": "摄像头固件漏洞",
        "title_en": "Camera firmware flaw",
        "severity": "high",
        "deadline": "2026-03-02T10:00:00Z",
        "overdue_s": 15 * 3600,
    }
    # its evidence is the bureau's ledgered issue of the bulletin
    detail = sharing.client.get(f"/supervision/findings/{first['id']}", headers=sharing.h("admin"))
    [seq] = detail.json()["evidence"]
    with sharing.runtime.reader() as s:
        entry = s.get(LedgerEntry, seq)
        assert entry is not None
        assert (entry.actor, entry.resource) == ("op", "RiskBulletin/new")
        assert entry.purpose.startswith("security.bulletin.issue: ")
    # sweeps go on: the same finding, brought up to date, never a second one
    move_to(sharing, clock, local(1, 12))
    again = findings(sharing)
    assert [f["id"] for f in again] == [first["id"]]
    assert again[0]["facts"]["overdue_s"] == 18 * 3600
    move_to(sharing, clock, local(1, 13))
    ack(sharing, bid, "civil_clerk")  # at last: the finding stays for supervisors to resolve
    move_to(sharing, clock, local(2, 9))
    assert [f["id"] for f in findings(sharing)] == [first["id"]]


def test_dispute_steps_the_bureau_lets_run_late(sharing: Sharing, clock: MovableClock) -> None:
    city = sharing.runtime.settings.city_code
    move_to(sharing, clock, local(0, 10))
    cases = []
    for title in ("批次被拒收", "质量评分有误"):
        body = {
            "respondent": city,
            "subject_type": "batch_rejected",
            "title": title,
            "claim": "The batch met the schema; the rejection was wrong.",
        }
        r = sharing.client.post("/disputes", headers=sharing.h("civil_clerk"), json=body)
        assert r.status_code == 201, r.text
        cases.append(r.json()["id"])
    decided_late, never_accepted = cases
    move_to(sharing, clock, local(1, 10))
    r = sharing.client.post(
        f"/disputes/{decided_late}/accept", headers=sharing.h("operator"), json={"accept": True}
    )
    assert r.status_code == 200, r.text
    move_to(sharing, clock, local(5, 9, 59))  # the response is due five days after filing
    assert findings(sharing) == []
    move_to(sharing, clock, local(5, 11))
    found = findings(sharing)
    assert [(f["rule"], f["article"], f["organisation"], f["resource"]) for f in found] == [
        ("dispute-overdue", "23(7)", city, f"DisputeCase/{never_accepted}")
    ]
    assert found[0]["actor"] == "dispute-desk"  # nobody took the case up
    assert found[0]["facts"]["step"] == "accept" and found[0]["facts"]["overdue_s"] == 3600
    move_to(sharing, clock, local(29, 10))  # the decision is due thirty days after filing
    assert [f["id"] for f in overdue(sharing)] == [found[0]["id"]]
    move_to(sharing, clock, local(30, 12))
    late = [f for f in overdue(sharing) if f["resource"] == f"DisputeCase/{decided_late}"]
    assert [(f["rule"], f["article"], f["organisation"], f["actor"]) for f in late] == [
        ("dispute-overdue", "23(7)", city, "op")
    ]
    facts = late[0]["facts"]
    assert (facts["case"], facts["step"], facts["overdue_s"]) == (decided_late, "decide", 7200)
    assert facts["deadline"] == "2026-04-01T02:00:00Z"
    # its evidence: the ledger entries of the filing and the acceptance that started the wait
    detail = sharing.client.get(
        f"/supervision/findings/{late[0]['id']}", headers=sharing.h("admin")
    )
    timeline = sharing.client.get(f"/disputes/{decided_late}", headers=sharing.h("operator"))
    steps = {e["kind"]: e["ledger_seq"] for e in timeline.json()["timeline"]}
    assert detail.json()["evidence"] == sorted([steps["filed"], steps["accepted"]])
    # a second sweep raises nothing new; the case still waiting to be accepted is not raised
    # again as a decision: one finding per (case, step awaited)
    move_to(sharing, clock, local(31, 12))
    assert len(overdue(sharing)) == 2


def overdue(world: Sharing) -> list[dict[str, Any]]:
    """The dispute-overdue findings (left open, they also raise finding-untouched after 7 days)."""
    return [f for f in findings(world) if f["rule"] == "dispute-overdue"]


def test_a_rule_switched_off_or_given_grace(sharing: Sharing, clock: MovableClock) -> None:
    r = change(sharing, "bulletin-unacknowledged", {"enabled": False, "note": "drill week"})
    assert r.status_code == 200, r.text
    move_to(sharing, clock, local(0, 10))
    bid = bulletin(sharing, [sharing.civil], deadline=local(0, 12))
    move_to(sharing, clock, local(1, 10))
    assert findings(sharing) == []  # off: nothing, however late
    r = change(sharing, "bulletin-unacknowledged", {"enabled": True, "params": {"grace_s": 86_400}})
    assert r.status_code == 200 and r.json()["version"] == 3, r.text
    move_to(sharing, clock, local(1, 11, 59))
    assert findings(sharing) == []  # back on, within a day's grace
    move_to(sharing, clock, local(1, 12, 1))
    found = findings(sharing)
    assert [(f["rule"], f["facts"]["bulletin"]) for f in found] == [
        ("bulletin-unacknowledged", bid)
    ]
    assert found[0]["rule_version"] == 3 and found[0]["facts"]["overdue_s"] == 86_460


@pytest.mark.parametrize("code", ["bulletin-unacknowledged", "dispute-overdue"])
def test_bad_parameters_are_refused_naming_the_field(sharing: Sharing, code: str) -> None:
    r = change(sharing, code, {"params": {"grace_s": -1}})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "params.grace_s"
    kind = code.replace("-", "_")
    body = {
        "code": f"my-{code}",
        "kind": kind,
        "params": {"grace": 60},
        "article": "23(6)",
        "severity": "low",
        "title_zh": "试",
        "title_en": "Try",
    }
    r = sharing.client.post("/supervision/rules", headers=sharing.h("admin"), json=body)
    assert r.status_code == 422 and r.json()["field"] == "params.grace", r.text
    with pytest.raises(InvalidInput) as exc:
        rules.parse_params(kind, {"grace_s": 31 * 86_400})
    assert exc.value.field == "params.grace_s"
    rules_now = sharing.client.get("/supervision/rules", headers=sharing.h("admin")).json()
    assert {r["code"]: r["version"] for r in rules_now}[code] == 1  # nothing half-written


def test_cli_reads_of_findings_and_evidence_are_ledgered(
    sharing: Sharing, clock: MovableClock, tmp_path: Path
) -> None:
    rt = sharing.runtime
    move_to(sharing, clock, local(0, 10))
    bulletin(sharing, [sharing.civil], deadline=local(0, 12))
    move_to(sharing, clock, local(1, 10))
    [found] = findings(sharing)
    where = ["--db", rt.settings.database_url, "--data-dir", str(rt.settings.data_dir)]
    runner = CliRunner(env={"COLUMNS": "200"})

    def entries() -> list[tuple[str, str, str, str]]:
        with rt.reader() as s:
            rows = s.query(LedgerEntry).filter(LedgerEntry.actor == SYSTEM_ACTOR).all()
            return [(e.resource, e.purpose, e.policy_ids, e.request_id[:4]) for e in rows]

    before = entries()
    listed = runner.invoke(supervision_cli, ["findings", "--json", *where])
    assert listed.exit_code == 0, listed.output
    docs = json.loads(listed.output)
    assert [(d["finding"], d["rule"], d["article"]) for d in docs] == [
        (found["id"], "bulletin-unacknowledged", "23(6)")
    ]
    assert docs[0]["status"] == "open" and docs[0]["facts"] == found["facts"]
    after = entries()
    assert after[: len(before)] == before
    assert after[len(before) :] == [
        ("Supervision/findings", "supervision.read: cli findings", '["local-operator"]', "cli-")
    ]

    out = tmp_path / "bundle.json"
    wrote = runner.invoke(supervision_cli, ["bundle", str(found["id"]), "--out", str(out), *where])
    assert wrote.exit_code == 0, wrote.output
    doc = json.loads(out.read_text("utf-8"))
    assert doc["subject"]["finding"] == found["id"] and len(doc["entries"]) == 1
    assert entries()[-1][:2] == (
        f"Finding/{found['id']}",
        f"supervision.evidence: cli evidence of finding {found['id']}",
    )
    count = len(entries())
    missing = runner.invoke(supervision_cli, ["bundle", "999", "--out", str(out), *where])
    assert missing.exit_code != 0
    assert len(entries()) == count  # a finding that does not exist leaves no entry
