"""Handling cases: only supervisors open the reporter's identity (each reading ledgered), the
reporter follows the case by receipt without seeing staff names, the lifecycle refuses moves it
does not allow, supervisors and overseers list and filter cases, the CLI lists and shows them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from citybrain.governance.reportdesk.api import FOLLOW_FAILURES
from citybrain.governance.reportdesk.cli import app as cli_app
from tests.governance.reportdesk.conftest import IDENTITY, Desk


def ledger_tail(desk: Desk, after: int) -> list[object]:
    """Ledger entries after size ``after``."""
    with desk.runtime.reader() as s:
        return [e.data for e in desk.runtime.ledger.entries(s, after - 1, 1000)]


def ledger_size(desk: Desk) -> int:
    """Entries in the ledger now."""
    with desk.runtime.reader() as s:
        return desk.runtime.ledger.size(s)


def test_only_supervisors_read_the_identity_and_each_reading_is_ledgered(desk: Desk) -> None:
    named = desk.filed(reporter=IDENTITY)
    anonymous = desk.filed()
    url = f"/reports/{named['id']}/reporter"
    for who in ("admin", "operator", "auditor", "clerk"):
        before = ledger_size(desk)
        r = desk.client.get(url, headers=desk.h(who))
        assert r.status_code == 403, (who, r.text)
        assert r.json()["policies"] == ["reportdesk-identity-supervisors-only@v1"]
        [denial] = ledger_tail(desk, before)  # the attempt is on record
        assert denial.decision == "deny" and denial.action == "access"  # type: ignore[attr-defined]
    assert desk.client.get(url).status_code == 401
    # the operator may read the case, never the identity
    case = desk.client.get(f"/reports/{named['id']}", headers=desk.h("operator")).json()
    assert case["anonymous"] is False and case["description"]
    for value in IDENTITY.values():
        assert value not in json.dumps(case, ensure_ascii=False)
    for n in (1, 2):  # each reading is its own ledger entry, naming the case
        before = ledger_size(desk)
        r = desk.client.get(url, headers=desk.h("sup") | {"X-Request-ID": f"identity-{n}"})
        assert r.status_code == 200 and r.json()["name"] == IDENTITY["name"]
        [entry] = ledger_tail(desk, before)
        assert (entry.actor, entry.action, entry.decision, entry.request_id) == (  # type: ignore[attr-defined]
            "sup",
            "access",
            "allow",
            f"identity-{n}",
        )
        assert entry.resource == f"ReportCase/{named['id']}"  # type: ignore[attr-defined]
        assert entry.purpose == (  # type: ignore[attr-defined]
            f"reportdesk.identity.read: reporter identity of report case {named['number']}"
        )
    r = desk.client.get(f"/reports/{anonymous['id']}/reporter", headers=desk.h("sup2"))
    assert r.json() == {
        "case": anonymous["number"],
        "anonymous": True,
        "name": None,
        "phone": None,
        "email": None,
        "id_number": None,
        "contact_consent": False,
    }
    assert desk.client.get("/reports/999/reporter", headers=desk.h("sup")).status_code == 404


def test_the_reporter_follows_the_case_without_staff_names_and_cannot_guess(
    desk: Desk,
) -> None:
    out = desk.filed(reporter=IDENTITY)
    code, case = out["receipt_code"], out["id"]
    assert desk.triage(case, severity="high", assignee="sup2").status_code == 200
    assert desk.triage(case, who="sup2", assignee="sup").status_code == 200  # reassigned
    r = desk.status(case, "investigating", note="内部：先调取该街道办的共享授权记录")
    assert r.status_code == 200, r.text
    r = desk.status(case, "resolved", who="sup2", outcome="已责令该街道办删除群内名单并整改。")
    assert r.status_code == 200, r.text
    # any spelling of the code: lower case, no dashes, no prefix
    typed = code.removeprefix("RPT-").replace("-", "").lower()
    r = desk.follow(typed)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["status"] == "resolved" and seen["number"] == out["number"]
    assert seen["outcome"] == "已责令该街道办删除群内名单并整改。"
    assert [(s["status"], s["text"]) for s in seen["timeline"]] == [
        ("received", ""),
        ("triaged", ""),
        ("investigating", ""),
        ("resolved", "已责令该街道办删除群内名单并整改。"),
    ]
    text = json.dumps(seen, ensure_ascii=False)
    for secret in ("sup", "high", "内部", "assignee", "severity", *IDENTITY.values()):
        assert secret not in text, secret
    # the staff see who did what
    staff = desk.client.get(f"/reports/{case}", headers=desk.h("sup")).json()
    assert [(s["actor"], s["kind"]) for s in staff["timeline"]] == [
        ("reporter", "filed"),
        ("sup", "triaged"),
        ("sup2", "reassigned"),
        ("sup", "status"),
        ("sup2", "status"),
    ]
    assert staff["timeline"][3]["note"].startswith("内部")
    guessing_is_throttled(desk, code)


def guessing_is_throttled(desk: Desk, code: str) -> None:
    """Wrong codes are 404 (malformed ones 422); FOLLOW_FAILURES of them, then 429."""
    guesses = [f"RPT-0000-0000-0000-{n:04d}" for n in range(FOLLOW_FAILURES - 1)]
    for guess in guesses:
        r = desk.follow(guess)
        assert r.status_code == 404 and r.json()["field"] == "code", r.text
    r = desk.follow("not-a-code")
    assert r.status_code == 422 and r.json()["field"] == "code"
    r = desk.follow(code)  # even the right code waits now
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "receipt lookups" in r.json()["detail"]


def test_the_lifecycle_refuses_moves_it_does_not_allow(desk: Desk) -> None:
    case = desk.filed()["id"]
    other = desk.filed(category="illegal_sharing")["id"]
    desk.heard.clear()
    r = desk.status(case, "investigating")
    assert r.status_code == 409 and r.json()["field"] == "status"
    assert r.json()["allowed"] == ["triaged", "dismissed"] and "received" in r.json()["detail"]
    r = desk.status(case, "triaged")
    assert r.status_code == 422 and "triage" in r.json()["detail"]
    r = desk.triage(case, assignee="op")  # an operator is no supervisor
    assert r.status_code == 422 and r.json()["field"] == "assignee"
    r = desk.triage(case, severity="urgent")
    assert r.status_code == 422 and r.json()["field"] == "severity"
    assert desk.triage(case, who="operator").status_code == 403  # operators do not handle
    assert desk.triage(case, who="clerk").status_code == 403
    assert desk.triage(case).json()["status"] == "triaged"
    assert desk.status(case, "resolved").status_code == 409  # investigate first
    assert desk.status(case, "investigating").status_code == 200
    r = desk.status(case, "resolved")
    assert r.status_code == 422 and r.json()["field"] == "outcome"
    assert desk.status(case, "resolved", outcome="已整改").status_code == 200
    for move in (lambda: desk.status(case, "dismissed", outcome="x"), lambda: desk.triage(case)):
        r = move()
        assert r.status_code == 409 and "closed" in r.json()["detail"]
    r = desk.status(other, "dismissed", outcome="举报内容与数据利用无关。")  # from received
    assert r.status_code == 200 and r.json()["outcome"] == "举报内容与数据利用无关。"
    assert desk.status(999, "dismissed", outcome="x").status_code == 404
    assert [e.topic for e in desk.heard] == ["governance.reportdesk.case_updated"] * 4
    assert [(e.previous_status, e.status) for e in desk.heard] == [  # type: ignore[attr-defined]
        ("received", "triaged"),
        ("triaged", "investigating"),
        ("investigating", "resolved"),
        ("received", "dismissed"),
    ]
    assert desk.heard[0].assignee == "sup" and desk.heard[0].severity == "medium"  # type: ignore[attr-defined]


def test_cases_are_listed_filtered_and_paged_and_the_cli_shows_them(desk: Desk) -> None:
    first = desk.filed()
    desk.filed(category="illegal_collection", organisation=None)
    third = desk.filed(category="illegal_collection", reporter={"name": "张三"})
    desk.triage(third["id"], assignee="sup2")

    def numbers(who: str = "sup", **params: object) -> list[str]:
        r = desk.client.get("/reports", headers=desk.h(who), params=params)
        assert r.status_code == 200, r.text
        return [c["number"] for c in r.json()["items"]]

    all_three = numbers()
    assert len(all_three) == 3 and all_three[0] == first["number"]
    assert numbers("operator") == numbers("auditor") == all_three
    assert numbers(category="illegal_collection") == all_three[1:]
    assert numbers(organisation=desk.org) == [first["number"], third["number"]]
    assert numbers(status="triaged") == numbers(assignee="sup2") == [third["number"]]
    page = desk.client.get("/reports", headers=desk.h("sup"), params={"limit": 2}).json()
    rest = desk.client.get(
        "/reports", headers=desk.h("sup"), params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [c["number"] for c in page["items"] + rest["items"]] == all_three
    assert rest["next_cursor"] is None
    r = desk.client.get("/reports", headers=desk.h("sup"), params={"status": "lost"})
    assert r.status_code == 422 and r.json()["field"] == "status"
    for who in ("clerk", "public"):
        assert desk.client.get("/reports", headers=desk.h(who)).status_code in (401, 403)
        assert desk.client.get(f"/reports/{third['id']}", headers=desk.h(who)).status_code in (
            401,
            403,
        )

    # the CLI, as the local operator: lists and shows, never the identity; ledgered
    opts = ["--db", str(desk.runtime.engine.url.render_as_string(hide_password=False))]
    opts += ["--data-dir", str(desk.runtime.settings.data_dir), "--lang", "en"]
    before = ledger_size(desk)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["list", *opts], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    for number in all_three:
        assert number in out.output
    assert "Illegal collection of data" in out.output and "anonymous" in out.output
    out = runner.invoke(cli_app, ["show", third["number"], *opts], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "Assigned" in out.output and "sup2" in out.output and "named" in out.output
    assert "张三" not in out.output
    out = runner.invoke(cli_app, ["list", "--status", "resolved", *opts])
    assert out.exit_code == 0 and "No reports match." in out.output
    assert ledger_size(desk) == before + 3
