"""Requests and grants through the API: each sharing class in force, masks and rows applied,
every refusal a clear answer and a ledger entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from citybrain.governance.sharing.models import Grant
from citybrain.governance.sharing.sweeper import sweep
from tests.governance.conftest import ROWS, Sharing


def ledger(world: Sharing) -> list[Any]:
    """Every ledger entry's data, oldest first."""
    with world.runtime.factory() as s:
        return [e.data for e in world.runtime.ledger.entries(s, -1, 100000)]


def denied(r: Any, policy: str) -> None:
    assert r.status_code == 403, r.text
    assert f"{policy}@v1" in r.json()["policies"], r.json()


def test_unconditional_is_granted_at_once_and_pii_is_masked(sharing: Sharing) -> None:
    req = sharing.request(dataset="assist-unconditional")
    assert req["status"] == "approved"
    grant = req["grant"]
    assert grant["live"] and grant["approved_by"] == "system:unconditional-sharing"
    assert grant["masks"] == {"person_id": "MASK", "name": "MASK"}  # pii fields, by default
    assert "salt" not in grant
    r = sharing.read(grant["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["items"]) == ROWS and body["next_cursor"] is None
    first = body["items"][0]
    assert set(first) == {"person_id", "name", "district", "age"}
    assert first["district"] == "西湖区" and first["age"] == 76
    assert "P00000" not in str(body["items"]) and "张一0" not in str(body["items"])
    entry = [e for e in ledger(sharing) if e.purpose.startswith("data.read")][-1]
    assert entry.actor == "doctor" and entry.action == "share" and entry.decision == "allow"
    assert entry.resource == "Dataset/assist-unconditional"
    assert f"grant {grant['id']} · public-health" in entry.purpose


def test_conditional_waits_for_the_provider_who_may_narrow(sharing: Sharing) -> None:
    req = sharing.request(fields=["person_id", "name", "id_number", "district", "age"])
    assert req["status"] == "pending" and req["grant"] is None
    # Only the provider decides; the requester and a bystander cannot approve.
    for who in ("health_clerk", "transport_clerk", "operator"):
        r = sharing.client.post(
            f"/sharing/requests/{req['id']}/decision",
            headers=sharing.h(who),
            json={"approve": True},
        )
        assert r.status_code == 403, (who, r.text)
    done = sharing.approve(
        req["id"],
        fields=["person_id", "id_number", "district", "age"],
        masks={"id_number": "SHOW_LAST_4", "person_id": {"kind": "HASH"}},
        term_days=10,
        row_filter=[{"column": "district", "op": "=", "value": "滨江区"}],
    )
    grant = done["grant"]
    assert done["status"] == "approved" and grant["fields"] == [
        "person_id",
        "id_number",
        "district",
        "age",
    ]
    r = sharing.read(grant["id"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == ROWS // 3 and {i["district"] for i in items} == {"滨江区"}
    for item in items:
        assert item["id_number"].startswith("*") and len(item["id_number"]) == 18
        assert not item["person_id"].startswith("P")
    # A field the provider left out is refused, and so is the name it never granted.
    denied(sharing.read(grant["id"], fields="name,district"), "sharing-fields-within-grant")
    # Paging: two at a time, continuing from the cursor, never past the filter.
    page = sharing.read(grant["id"], limit=2).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = sharing.read(grant["id"], limit=100, cursor=page["next_cursor"]).json()
    assert len(rest["items"]) == ROWS // 3 - 2


def test_a_grant_is_used_only_by_its_grantee_for_its_purpose(sharing: Sharing) -> None:
    grant = sharing.request(dataset="assist-unconditional")["grant"]
    denied(sharing.read(grant["id"], purpose="research"), "sharing-purpose-within-grant")
    for who in ("transport_clerk", "admin", "operator", "civil_clerk"):
        denied(sharing.read(grant["id"], who=who), "sharing-grantee-only")
    assert sharing.read(grant["id"], who="health_service").status_code == 200
    denials = [e for e in ledger(sharing) if e.decision == "deny" and "data.read" in e.purpose]
    assert len(denials) == 5
    assert all(e.resource == "Dataset/assist-unconditional" for e in denials)


def test_unknown_grant_and_bad_fields_are_refused_and_ledgered(sharing: Sharing) -> None:
    r = sharing.read(9999)
    assert r.status_code == 404 and r.json()["field"] == "id"
    assert any(e.resource == "Grant/9999" and e.decision == "deny" for e in ledger(sharing))
    r = sharing.client.post(
        "/sharing/requests",
        headers=sharing.h("health_clerk"),
        json={"dataset": "assist-conditional", "fields": ["name", "salary"], "purpose": "research"},
    )
    assert r.status_code == 422 and r.json()["field"] == "fields[1]"
    r = sharing.client.post(
        "/sharing/requests",
        headers=sharing.h("health_clerk"),
        json={"dataset": "assist-conditional", "fields": ["name"], "purpose": "curiosity"},
    )
    assert r.status_code == 422 and r.json()["field"] == "purpose"
    r = sharing.client.post(
        "/sharing/requests",
        headers=sharing.h("health_clerk"),
        json={
            "dataset": "assist-conditional",
            "fields": ["name"],
            "purpose": "research",
            "row_filter": [{"column": "district", "op": "~", "value": "x"}],
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "row_filter[0].op"
    own = sharing.request(who="civil_clerk")
    assert own["status"] == 409 and own["field"] == "dataset"


def test_not_shared_data_needs_a_legal_basis_the_provider_accepts(sharing: Sharing) -> None:
    r = sharing.request(dataset="assist-none")
    assert r["status"] == 422 and r["field"] == "legal_basis"
    req = sharing.request(dataset="assist-none", legal_basis="《传染病防治法》第十二条")
    assert req["status"] == "pending"
    r = sharing.client.post(
        f"/sharing/requests/{req['id']}/decision",
        headers=sharing.h("civil_clerk"),
        json={"approve": True},
    )
    assert r.status_code == 422 and r.json()["field"] == "accept_legal_basis"
    done = sharing.approve(req["id"], accept_legal_basis=True)
    assert done["grant"]["legal_basis"] == "《传染病防治法》第十二条"
    assert sharing.read(done["grant"]["id"]).status_code == 200


def test_reject_needs_a_reason_and_a_decision_is_final(sharing: Sharing) -> None:
    req = sharing.request()
    path = f"/sharing/requests/{req['id']}/decision"
    h = sharing.h("civil_clerk")
    r = sharing.client.post(path, headers=h, json={"approve": False})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = sharing.client.post(path, headers=h, json={"approve": False, "reason": "用途不明确"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["reason"] == "用途不明确"
    r = sharing.client.post(path, headers=h, json={"approve": True})
    assert r.status_code == 409
    wider = sharing.request()
    r = sharing.client.post(
        f"/sharing/requests/{wider['id']}/decision",
        headers=h,
        json={"approve": True, "fields": ["name", "allowance"]},
    )
    assert r.status_code == 422 and r.json()["field"] == "fields[1]"
    r = sharing.client.post(
        f"/sharing/requests/{wider['id']}/decision",
        headers=h,
        json={"approve": True, "term_days": 365},
    )
    assert r.status_code == 422 and r.json()["field"] == "term_days"
    r = sharing.client.post(
        f"/sharing/requests/{wider['id']}/decision",
        headers=h,
        json={"approve": True, "masks": {"name": "ROT13"}},
    )
    assert r.status_code == 422 and r.json()["field"] == "masks.name"


def test_revoked_and_expired_grants_are_dead(sharing: Sharing) -> None:
    grant = sharing.request(dataset="assist-unconditional")["grant"]
    other = sharing.request(dataset="assist-unconditional")["grant"]
    # Read both first: the grants' unchanging facts are now cached, their state must not be.
    assert sharing.read(grant["id"]).status_code == 200
    assert sharing.read(other["id"]).status_code == 200
    path = f"/sharing/grants/{grant['id']}/revoke"
    r = sharing.client.post(path, headers=sharing.h("health_clerk"), json={"reason": "x"})
    assert r.status_code == 403
    r = sharing.client.post(path, headers=sharing.h("civil_clerk"), json={"reason": "项目结束"})
    assert r.status_code == 200 and r.json()["status"] == "revoked" and not r.json()["live"]
    denied(sharing.read(grant["id"]), "sharing-no-use-without-live-grant")
    r = sharing.client.post(path, headers=sharing.h("operator"), json={"reason": "again"})
    assert r.status_code == 409
    with sharing.runtime.factory.begin() as s:
        s.execute(
            update(Grant)
            .where(Grant.id == other["id"])
            .values(expires_at=sharing.runtime.clock() - timedelta(seconds=1))
        )
    denied(sharing.read(other["id"]), "sharing-no-use-without-live-grant")
    live = sharing.client.get(
        "/sharing/grants", headers=sharing.h("health_clerk"), params={"live": "true"}
    ).json()
    assert live["items"] == []


def test_a_sandbox_grant_gives_no_rows(sharing: Sharing) -> None:
    grant = sharing.request(dataset="assist-unconditional", mode="sandbox")["grant"]
    denied(sharing.read(grant["id"]), "sharing-mode-of-grant")


def test_listings_show_each_side_its_own(sharing: Sharing) -> None:
    sharing.request()
    sharing.request(dataset="assist-unconditional")

    def ids(who: str, **params: str) -> list[int]:
        r = sharing.client.get("/sharing/requests", headers=sharing.h(who), params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert len(ids("health_clerk")) == 2 and len(ids("civil_clerk", side="incoming")) == 2
    assert ids("civil_clerk", side="outgoing") == [] and ids("transport_clerk") == []
    assert len(ids("auditor")) == 2 and len(ids("health_clerk", status="pending")) == 1
    one = ids("health_clerk")[0]
    assert (
        sharing.client.get(
            f"/sharing/requests/{one}", headers=sharing.h("transport_clerk")
        ).status_code
        == 404
    )
    purposes = sharing.client.get("/sharing/purposes", headers=sharing.h("health_clerk")).json()
    assert {"code": "public-health", "zh": "公共卫生", "en": "Public health"} in purposes


def test_requests_past_their_sla_lapse(sharing: Sharing) -> None:
    req = sharing.request()
    before = len(ledger(sharing))
    assert sweep(sharing.runtime) == []
    assert len(ledger(sharing)) == before  # nothing to do, nothing ledgered
    assert sweep(sharing.runtime, sharing.runtime.clock() + timedelta(days=6)) == [req["id"]]
    assert [e.purpose for e in ledger(sharing)[before:]] == [
        "share.lapse: requests not answered within the SLA"
    ]
    r = sharing.client.get(f"/sharing/requests/{req['id']}", headers=sharing.h("civil_clerk"))
    assert r.json()["status"] == "lapsed" and "SLA" in r.json()["reason"]
