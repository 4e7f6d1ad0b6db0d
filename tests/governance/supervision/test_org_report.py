"""The oversight report of one organisation over one period (issue 7 part 5): built from what
really happened through the routes (reads, a denied read, grants, findings, an incident, a
bulletin, a public report, quality scores), scoped to the period and the organisation, readable
by supervisors and by the organisation's own clerks only, and rendered as a PDF in both languages
whose text says the same."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from typing import Any

from pypdf import PdfReader
from typer.testing import CliRunner

from citybrain.governance.supervision.cli import app as supervision_cli
from citybrain.governance.supervision.reports import Period, period_of
from citybrain.hub.quality.models import QualityScore
from tests.governance.conftest import Sharing
from tests.governance.supervision.conftest import MovableClock, local, move_to
from tests.governance.supervision.test_scenarios import GRANTED, grant_for

WEEK = {"since": "2026-03-02", "until": "2026-03-08"}


def report(world: Sharing, org: str, who: str = "admin", **params: Any) -> Any:
    return world.client.get(
        f"/supervision/org-reports/{org}", headers=world.h(who), params=WEEK | params
    )


def a_week(world: Sharing, clock: MovableClock) -> int:
    """Monday: a grant, office-hours reads. Thursday 03:00: a field it may not see, then 30
    one-row pages. Friday: an incident, a bulletin acknowledged, a public report, scores."""
    grant = grant_for(world, GRANTED)
    move_to(world, clock, local(0, 10))
    for _ in range(5):
        assert world.read(grant, fields=",".join(GRANTED), limit=10).status_code == 200
    move_to(world, clock, local(3, 3))
    assert world.read(grant, fields="person_id,name").status_code == 403
    for _ in range(30):
        assert world.read(grant, fields=",".join(GRANTED), limit=1).status_code == 200
    move_to(world, clock, local(4, 10))
    op, health = world.h("operator"), world.h("health_clerk")
    incident = {
        "organisation": world.health,
        "severity": "high",
        "title": "随访系统账号疑似被盗用",
        "occurred_at": local(4, 8).isoformat(),
    }
    assert world.client.post("/security/incidents", headers=op, json=incident).status_code == 201
    bulletin = {
        "title_zh": "某型号传感器固件漏洞",
        "body_zh": "请于三日内升级固件并确认。",
        "severity": "medium",
        "ack_deadline": local(7, 10).isoformat(),
    }
    r = world.client.post("/security/bulletins", headers=op, json=bulletin)
    assert r.status_code == 201, r.text
    ack = world.client.post(f"/security/bulletins/{r.json()['id']}/ack", headers=health, json={})
    assert ack.status_code == 200, ack.text
    filed = {
        "category": "misuse_beyond_purpose",
        "description": "卫健委工作人员深夜批量查看低保人员名单，与随访无关。",
        "organisation": world.health,
    }
    assert world.client.post("/reports", json=filed).status_code == 201
    with world.runtime.factory.begin() as session:
        for dimension, score in (("timeliness", 90), ("completeness", 70)):
            session.add(
                QualityScore(
                    round_id="r1",
                    dataset="assist-conditional",
                    provider=world.civil,
                    dimension=dimension,
                    score=score,
                    evidence=[],
                    window_start=local(3, 0),
                    window_end=local(4, 0),
                    computed_at=local(4, 1),
                )
            )
    assert world.client.post("/supervision/scan", headers=world.h("admin")).status_code == 200
    return grant


def test_the_week_of_the_clerk_who_read_at_3am(sharing: Sharing, clock: MovableClock) -> None:
    a_week(sharing, clock)
    r = report(sharing, sharing.health)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["organisation"]["code"] == sharing.health
    assert (rep["since"], rep["until"], rep["timezone"]) == (
        "2026-03-02",
        "2026-03-08",
        "UTC+08:00",
    )
    reads = next(a for a in rep["top_actions"] if a["action"] == "data.read")
    assert (reads["allow"], reads["deny"]) == (35, 1)
    shared = next(a for a in rep["actions"] if a["category"] == "share")
    assert shared["allow"] >= 35 and shared["deny"] == 1  # grant reads are sharing (Art9)
    assert [a["category"] for a in rep["actions"]] == [
        "collect", "transmit", "share", "access", "use", "export", "delete", "admin"
    ]  # fmt: skip
    led = rep["ledger"]
    assert led["entries"] == sum(a["allow"] + a["deny"] for a in rep["actions"])
    assert led["first_seq"] <= led["last_seq"]
    assert rep["grants"]["as_grantee"] == {"approved": 1, "live": 1, "revoked": 0, "expired": 0}
    assert rep["grants"]["as_provider"] == {"approved": 0, "live": 0, "revoked": 0, "expired": 0}
    by_article = {a["article"]: a for a in rep["findings"]["by_article"]}
    assert list(by_article) == ["23(1)", "23(3)"]
    assert by_article["23(1)"]["total"] == by_article["23(1)"]["open"] == 1
    assert rep["findings"]["total"] == 2
    assert rep["incidents"]["total"] == rep["incidents"]["open"] == 1
    assert rep["incidents"]["items"][0]["title"] == "随访系统账号疑似被盗用"
    assert rep["report_cases"] == {"total": 1, "by_status": {"received": 1}}
    assert rep["disputes"] == {"total": 0, "by_status": {}}
    assert rep["bulletins"] == {"received": 1, "acknowledged": 1, "overdue": 0}
    assert rep["quality"] == {"mean": None, "datasets": []}  # the scores are the provider's

    civil = report(sharing, sharing.civil).json()
    assert civil["grants"]["as_provider"]["approved"] == 1
    assert civil["findings"]["total"] == 0 and civil["incidents"]["total"] == 0
    assert civil["bulletins"] == {"received": 1, "acknowledged": 0, "overdue": 0}
    (scored,) = civil["quality"]["datasets"]
    assert scored["dataset"] == "assist-conditional" and scored["score"] == 80.0
    assert scored["dimensions"] == {"completeness": 70, "timeliness": 90}
    assert civil["quality"]["mean"] == 80.0

    # the bulletin's deadline passes: civil never acknowledged
    move_to(sharing, clock, local(8, 10))
    assert report(sharing, sharing.civil).json()["bulletins"]["overdue"] == 1
    # another week holds none of it
    later = report(sharing, sharing.health, since="2026-03-09", until="2026-03-15").json()
    assert "data.read" not in {a["action"] for a in later["top_actions"]}
    assert later["ledger"]["entries"] < 5 and later["findings"]["total"] == 0  # sign-ins only
    assert later["grants"]["as_grantee"]["live"] == 1  # still live at the end of that week
    assert later["incidents"]["total"] == 0 and later["bulletins"]["received"] == 0


def test_who_may_read_which_report(sharing: Sharing, clock: MovableClock) -> None:
    move_to(sharing, clock, local(1, 10))
    assert report(sharing, sharing.health, who="health_clerk").status_code == 200
    assert report(sharing, sharing.health, who="auditor").status_code == 200
    denied = report(sharing, sharing.health, who="transport_clerk")
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    pdf = sharing.client.get(
        f"/supervision/org-reports/{sharing.health}/pdf",
        headers=sharing.h("transport_clerk"),
        params=WEEK,
    )
    assert pdf.status_code == 403
    # each reading is ledgered under the reader's name and the report's period
    r = sharing.client.get("/ledger/entries", headers=sharing.h("admin"), params={"limit": 500})
    purposes = [e["purpose"] for e in r.json()["items"] if e["actor"] == "driver"]
    assert any(
        p.startswith("supervision.report") and "2026-03-02..2026-03-08" in p for p in purposes
    )


def test_bad_periods_and_organisations_name_the_field(
    sharing: Sharing, clock: MovableClock
) -> None:
    move_to(sharing, clock, local(1, 10))
    for params, field in (
        ({"since": "2026-03-09", "until": "2026-03-08"}, "since"),
        ({"since": "2025-01-01", "until": "2026-03-08"}, "until"),
        ({"since": "yesterday"}, "since"),
    ):
        r = report(sharing, sharing.health, **params)
        assert r.status_code in (400, 422), r.text
        assert field in r.text
    missing = report(sharing, "91330100MA0000000X")
    assert missing.status_code == 404 and "org" in missing.text
    lang = sharing.client.get(
        f"/supervision/org-reports/{sharing.health}/pdf",
        headers=sharing.h("admin"),
        params=WEEK | {"lang": "fr"},
    )
    assert lang.status_code in (400, 422) and "lang" in lang.text


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def test_the_pdf_says_the_same_in_both_languages(sharing: Sharing, clock: MovableClock) -> None:
    a_week(sharing, clock)
    url = f"/supervision/org-reports/{sharing.health}/pdf"
    zh = sharing.client.get(url, headers=sharing.h("admin"), params=WEEK)
    assert zh.status_code == 200, zh.text
    assert zh.headers["content-type"] == "application/pdf"
    assert zh.content.startswith(b"%PDF-")
    disposition = zh.headers["content-disposition"]
    assert f'filename="oversight-{sharing.health}-2026-03-02-2026-03-08.pdf"' in disposition
    text = pdf_text(zh.content)
    for expected in (
        "数据监督报告",
        sharing.health,
        "2026-03-02 至 2026-03-08",
        "第二十三条第（一）项",
        "第二十三条第（三）项",
        "随访系统账号疑似被盗用",
        "收到 1 份，已确认 1 份，逾期未确认 0 份",
        "data.read",
    ):
        assert expected in text, expected
    en = sharing.client.get(url, headers=sharing.h("admin"), params=WEEK | {"lang": "en"})
    text_en = pdf_text(en.content)
    for expected in ("Data oversight report", "Art. 23(1)", "Art. 23(3)", "1 received"):
        assert expected in text_en, expected
    again = sharing.client.get(url, headers=sharing.h("admin"), params=WEEK)
    assert again.content == zh.content  # reproducible: nothing random or dated inside


def test_periods_are_whole_city_days() -> None:
    p = Period(date(2026, 3, 2), date(2026, 3, 8))  # Monday to Sunday in Hangzhou
    assert p.start == local(0, 0) and p.end == local(7, 0)
    assert p.end - p.start == timedelta(days=7)
    default = period_of(None, None, local(3, 1))  # 01:00 Thursday local, Wednesday in UTC
    assert local(3, 1).date() == date(2026, 3, 4)
    assert (default.since, default.until) == (date(2026, 2, 4), date(2026, 3, 5))


def test_the_cli_writes_the_same_report(
    sharing: Sharing, clock: MovableClock, tmp_path: Any
) -> None:
    a_week(sharing, clock)
    rt = sharing.runtime
    where = ["--db", rt.settings.database_url, "--data-dir", str(rt.settings.data_dir)]
    runner = CliRunner(env={"COLUMNS": "200"})
    week = ["--since", WEEK["since"], "--until", WEEK["until"]]
    printed = runner.invoke(supervision_cli, ["report", sharing.health, *week, *where])
    assert printed.exit_code == 0, printed.output
    doc = json.loads(printed.output)
    api = report(sharing, sharing.health).json()
    for part in ("actions", "grants", "findings", "incidents", "report_cases", "bulletins"):
        assert doc[part] == api[part], part
    out = tmp_path / "health.pdf"
    wrote = runner.invoke(
        supervision_cli,
        ["report", sharing.health, *week, "--pdf", str(out), "--lang", "en", *where],
    )
    assert wrote.exit_code == 0, wrote.output
    assert "Data oversight report" in pdf_text(out.read_bytes())
    bad = runner.invoke(supervision_cli, ["report", sharing.health, "--since", "March", *where])
    assert bad.exit_code == 2 and "--since" in bad.output
    missing = runner.invoke(supervision_cli, ["report", "91330100MA0000000X", *where])
    assert missing.exit_code != 0
