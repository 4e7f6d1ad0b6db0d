"""A dispute from filing to the appeal decision, its deadlines moved by the injected clock;
refusal, the appeal window, who may see and do what, and the events the desk publishes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from citybrain.governance.disputes import service
from citybrain.governance.disputes.api import OWN_CLAIMANT
from citybrain.governance.disputes.schemas import CaseDecided, CaseFiled
from citybrain.ledger.models import LedgerEntry
from tests.governance.disputes.conftest import DATASET, T0, Desk


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_full_lifecycle_with_deadlines_and_events(desk: Desk) -> None:
    r = desk.file()
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]
    assert case["status"] == "filed" and case["claimant"] == desk.orgs["civil"]
    assert case["respondent"] == desk.orgs["city"] and case["dataset"] == DATASET
    due = case["deadlines"]
    assert at(due["response_due"]) == T0 + timedelta(days=service.RESPONSE_DAYS)
    assert at(due["evidence_due"]) == T0 + timedelta(days=service.EVIDENCE_DAYS)
    assert at(due["decision_due"]) == T0 + timedelta(days=service.DECISION_DAYS)
    assert due["appeal_due"] is None and not case["overdue"]
    assert case["next_deadline"] == "response_due"
    assert [c["side"] for c in case["claims"]] == ["claimant"]

    desk.advance(6)  # the bureau has not answered within five days
    late = desk.get(f"/disputes/{cid}", "sup1").json()
    assert late["overdue"] and late["next_deadline"] == "response_due"
    with desk.runtime.reader() as s:
        assert [c.id for c in service.overdue_cases(s, desk.clock())] == [cid]
    listed = desk.get("/disputes", "sup1", overdue="true").json()["items"]
    assert [c["id"] for c in listed] == [cid]

    r = desk.post(cid, "accept", "sup1", {"accept": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "under_review" and not r.json()["overdue"]
    assert desk.get("/disputes", "sup1", overdue="true").json()["items"] == []

    r = desk.post(cid, "claims", "hub", {"text": "The batch lacked required person_id values."})
    assert r.status_code == 201 and r.json()["side"] == "respondent", r.text
    r = desk.post(cid, "claims", "civil", {"text": "Rows 3-5 carried it; see the batch."})
    assert r.status_code == 201 and r.json()["side"] == "claimant", r.text

    desk.advance(15)  # day 21: the evidence deadline (day 20) has passed
    r = desk.post(cid, "claims", "civil", {"text": "one more thing"})
    assert r.status_code == 409 and r.json()["field"] == "evidence_due", r.text

    desk.advance(4)  # day 25
    r = desk.post(cid, "decision", "sup1", {"outcome": "partly_upheld", "text": "部分支持"})
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "decided" and decided["decision"]["outcome"] == "partly_upheld"
    assert at(decided["deadlines"]["appeal_due"]) == desk.clock() + timedelta(
        days=service.APPEAL_DAYS
    )
    assert decided["next_deadline"] == "appeal_due" and not decided["overdue"]

    desk.advance(10)  # within the appeal window
    r = desk.post(cid, "appeal", "hub", {"reason": "the claimant's rows were incomplete"})
    assert r.status_code == 200 and r.json()["status"] == "appealed", r.text
    assert r.json()["appeal"]["side"] == "respondent"
    again = desk.post(cid, "appeal", "civil", {"reason": "me too"})
    assert again.status_code == 409 and again.json()["field"] == "status"

    same = desk.post(cid, "appeal-decision", "sup1", {"outcome": "dismissed", "text": "x"})
    assert same.status_code == 403
    assert "disputes-appeal-heard-by-another" in same.json()["detail"]
    r = desk.post(cid, "appeal-decision", "sup2", {"outcome": "dismissed", "text": "维持原决定"})
    assert r.status_code == 200, r.text
    final = r.json()
    assert final["status"] == "closed" and final["appeal"]["outcome"] == "dismissed"
    assert final["next_deadline"] is None and not final["overdue"]

    kinds = [e["kind"] for e in final["timeline"]]
    assert kinds == ["filed", "accepted", "claim", "claim", "decided", "appealed", "appeal_decided"]
    with desk.runtime.reader() as s:
        for event in final["timeline"]:
            entry = s.get(LedgerEntry, event["ledger_seq"])
            assert entry is not None and entry.request_id == event["request_id"]
            assert entry.actor == event["actor"] and entry.decision == "allow"

    filed = [e for e in desk.events if isinstance(e, CaseFiled)]
    assert [(e.case_id, e.respondent) for e in filed] == [(cid, desk.orgs["city"])]
    decisions = [
        (e.stage, e.outcome, e.decided_by) for e in desk.events if isinstance(e, CaseDecided)
    ]
    assert decisions == [("first", "partly_upheld", "sup1"), ("appeal", "dismissed", "sup2")]
    assert {e.topic for e in desk.events} == {
        "governance.disputes.case_filed",
        "governance.disputes.case_decided",
    }


def test_a_party_sees_only_its_own_cases(desk: Desk) -> None:
    cid = desk.file().json()["id"]
    other = desk.file(
        "doctor", respondent=desk.orgs["civil"], subject_type="grant_terms", dataset=None
    )
    assert other.status_code == 201, other.text
    oid = other.json()["id"]

    def ids(who: str, **params: str) -> list[int]:
        return [c["id"] for c in desk.get("/disputes", who, **params).json()["items"]]

    assert ids("civil") == [cid, oid]  # claimant of one, respondent of the other
    assert ids("doctor") == [oid]
    assert ids("driver") == []
    assert ids("aud") == ids("sup1") == ids("op") == [cid, oid]
    assert ids("sup1", org=desk.orgs["health"]) == [oid]
    for path in (f"/disputes/{cid}", f"/disputes/{cid}/evidence-bundle"):
        assert desk.get(path, "doctor").status_code == 403
        assert desk.get(path, "aud").status_code == 200
    assert desk.get(f"/disputes/{oid}", "doctor").status_code == 200
    assert desk.post(cid, "claims", "driver", {"text": "let me in"}).status_code == 403
    assert desk.post(cid, "evidence", "driver", {"ledger_seq": 0}).status_code == 403
    assert desk.post(cid, "accept", "civil", {}).status_code == 403  # parties do not judge
    assert desk.get("/disputes/999", "doctor").status_code == 403  # existence not told
    assert desk.get("/disputes/999", "sup1").status_code == 404
    with desk.runtime.reader() as s:
        denied = s.scalars(
            select(LedgerEntry).where(LedgerEntry.actor == "doctor", LedgerEntry.decision == "deny")
        ).all()
    assert {e.resource for e in denied} >= {f"DisputeCase/{cid}"}


def test_bad_filings_refusals_and_late_appeals_are_refused_naming_the_field(desk: Desk) -> None:
    assert desk.file(respondent="91330100MA0000000X").json()["field"] == "respondent"
    assert desk.file(respondent=desk.orgs["civil"]).json()["field"] == "respondent"
    assert desk.file(subject_type="weather").json()["field"] == "subject_type"
    assert desk.file(dataset="no-such-data").json()["field"] == "dataset"
    assert desk.file(claim="   ").json()["field"] == "claim"
    assert desk.file(surprise=1).status_code == 422
    # a clerk files for its own organisation only; the bureau's supervisors do not file
    assert desk.file(claimant=desk.orgs["health"]).json()["field"] == "claimant"
    with desk.runtime.reader() as s:
        refused = s.scalars(select(LedgerEntry).where(LedgerEntry.decision == "deny")).all()
    assert [(e.actor, e.resource) for e in refused if OWN_CLAIMANT in e.policy_ids] == [
        ("civil", "DisputeCase/new")
    ]
    assert desk.file("sup1").status_code == 403
    with desk.runtime.reader() as s:
        assert service.list_statement(desk.clock()).whereclause is None
        assert s.scalars(service.list_statement(desk.clock())).all() == []

    # a case out of scope is refused, with a reason
    cid = desk.file(subject_type="other", dataset=None).json()["id"]
    r = desk.post(cid, "accept", "sup1", {"accept": False, "reason": "  "})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = desk.post(cid, "accept", "sup1", {"accept": False, "reason": "不属于数据报送纠纷"})
    assert r.status_code == 200 and r.json()["status"] == "refused", r.text
    assert r.json()["refusal_reason"] == "不属于数据报送纠纷"
    r = desk.post(cid, "decision", "sup1", {"outcome": "upheld", "text": "x"})
    assert r.status_code == 409 and r.json()["field"] == "status"
    r = desk.post(cid, "accept", "sup1", {"accept": True})
    assert r.status_code == 409 and r.json()["field"] == "status"

    # an appeal after the window
    cid = desk.file().json()["id"]
    desk.post(cid, "accept", "op", {})
    desk.post(cid, "decision", "op", {"outcome": "dismissed", "text": "no ground"})
    desk.advance(service.APPEAL_DAYS + 1)
    r = desk.post(cid, "appeal", "civil", {"reason": "too late?"})
    assert r.status_code == 409 and r.json()["field"] == "appeal_due", r.text
    assert desk.get(f"/disputes/{cid}", "civil").json()["status"] == "closed"
    closed = desk.get("/disputes", "civil", status="closed").json()["items"]
    assert [c["id"] for c in closed] == [cid]
    assert desk.get("/disputes", "civil", status="decided").json()["items"] == []
