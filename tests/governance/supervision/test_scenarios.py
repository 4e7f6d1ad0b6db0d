"""Scripted violations, each through the real routes: exactly the expected findings, under the
right article, with evidence that verifies offline — and a forged bundle that does not."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from citybrain.governance.sharing.sweeper import sweep as sla_sweep
from citybrain.governance.supervision.api import detector_of
from citybrain.governance.supervision.models import DetectorCursor
from citybrain.ledger.bundle import verify_bundle
from tests.governance.conftest import Sharing, residents_csv
from tests.governance.supervision.conftest import MovableClock, local, move_to

GRANTED = ["person_id", "district", "age", "allowance"]  # of the dataset's eight fields


def findings(world: Sharing, **params: Any) -> list[dict[str, Any]]:
    """Scan, then every finding the supervisor sees."""
    h = world.h("admin")
    assert world.client.post("/supervision/scan", headers=h).status_code == 200
    r = world.client.get("/supervision/findings", headers=h, params=params | {"limit": 500})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


def grant_for(world: Sharing, fields: list[str]) -> int:
    req = world.request(fields=fields)
    return int(world.approve(req["id"])["grant"]["id"])


def test_clerk_pulls_the_whole_dataset_at_3am(sharing: Sharing, clock: MovableClock) -> None:
    grant = grant_for(sharing, GRANTED)
    for day in range(3):  # an ordinary clerk: a few reads in office hours
        move_to(sharing, clock, local(day, 10))
        for _ in range(5):
            assert sharing.read(grant, fields=",".join(GRANTED), limit=10).status_code == 200
    assert findings(sharing) == []
    move_to(sharing, clock, local(3, 3))  # Thursday, 03:00
    whole = sharing.read(grant, fields="person_id,name,id_number,phone,district,age")
    assert whole.status_code == 403
    cursor = None
    for _ in range(30):  # then page through every row it may see, one at a time
        params = {"fields": ",".join(GRANTED), "limit": 1} | ({"cursor": cursor} if cursor else {})
        r = sharing.read(grant, **params)
        assert r.status_code == 200
        cursor = r.json()["next_cursor"]
    found = findings(sharing)
    assert sorted((f["rule"], f["article"]) for f in found) == [
        ("fields-outside-grant", "23(1)"),
        ("off-hours-read", "23(3)"),
    ]
    night = next(f for f in found if f["rule"] == "off-hours-read")
    assert night["actor"] == "doctor" and night["organisation"] == sharing.health
    assert night["facts"]["count"] == 30 and night["facts"]["baseline"] == 0
    assert night["evidence_count"] == 30
    # the evidence, downloaded by a supervisor, verifies offline against the exported checkpoints
    r = sharing.client.get(
        f"/supervision/findings/{night['id']}/evidence", headers=sharing.h("admin")
    )
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert len(bundle["entries"]) == 30 and bundle["subject"]["article"] == "23(3)"
    with sharing.runtime.reader() as s:
        export = sharing.runtime.ledger.export_checkpoints(s)
    assert verify_bundle(bundle, export=export).ok
    forged = copy.deepcopy(bundle)  # someone edits who did it
    forged["entries"][4]["actor"] = "civil"
    report = verify_bundle(forged, export=export)
    assert not report.ok and report.first_bad_seq == forged["entries"][4]["seq"]
    # the clerk's organisation sees its own findings; another department sees none
    mine = sharing.client.get("/supervision/findings", headers=sharing.h("health_clerk")).json()
    assert {f["id"] for f in mine["items"]} == {f["id"] for f in found}
    other = sharing.client.get("/supervision/findings", headers=sharing.h("transport_clerk"))
    assert other.json()["items"] == []


def test_each_read_without_a_live_grant_is_a_finding(sharing: Sharing, clock: MovableClock) -> None:
    grant = grant_for(sharing, GRANTED)
    move_to(sharing, clock, local(0, 11))
    revoked = sharing.client.post(
        f"/sharing/grants/{grant}/revoke", headers=sharing.h("civil_clerk"), json={"reason": "x"}
    )
    assert revoked.status_code == 200
    for _ in range(3):
        assert sharing.read(grant, fields=",".join(GRANTED)).status_code == 403
    assert sharing.read(grant, who="transport_clerk", fields="age").status_code == 403
    found = findings(sharing)
    assert [f["rule"] for f in found] == ["read-without-live-grant"] * 4
    assert {f["actor"] for f in found} == {"doctor", "driver"}
    assert all(f["article"] == "23(1)" and f["evidence_count"] == 1 for f in found)
    assert findings(sharing) == found  # a second scan raises nothing new


def test_a_department_that_stops_refreshing(sharing: Sharing, clock: MovableClock) -> None:
    body = {"update_frequency": "P1D"}
    r = sharing.client.put(
        "/catalog/datasets/assist-unconditional",
        headers=sharing.h("civil_clerk"),
        json=_dataset(sharing, "assist-unconditional") | body,
    )
    assert r.status_code == 200, r.text
    for day in range(1, 4):  # refreshed daily for three days
        move_to(sharing, clock, local(day, 8))
        r = sharing.client.post(
            "/hub/datasets/assist-unconditional/batches",
            headers=sharing.h("civil_clerk") | {"Content-Type": "text/csv"},
            content=residents_csv(30 + day),
        )
        assert r.status_code == 201, r.text
    last_batch_seq = r.json()["ledger_seq"]
    move_to(sharing, clock, local(5, 8, 30))  # two days and a half later: within 2 × P1D + 1 h
    assert findings(sharing) == []
    move_to(sharing, clock, local(5, 9, 30))  # 2 days + 1 h 30 min after the last batch
    found = findings(sharing)
    assert [(f["rule"], f["article"], f["organisation"]) for f in found] == [
        ("unconditional-not-refreshed", "23(1)", sharing.civil)
    ]
    detail = sharing.client.get(
        f"/supervision/findings/{found[0]['id']}", headers=sharing.h("admin")
    )
    assert detail.json()["evidence"] == [last_batch_seq]
    move_to(sharing, clock, local(6, 9))
    assert len(findings(sharing)) == 1  # the same lapse, not a new finding every sweep


def _dataset(world: Sharing, slug: str) -> dict[str, Any]:
    from tests.governance.conftest import dataset_body

    body = dataset_body(slug, world.civil, "unconditional")
    del body["id"]
    return body


def test_a_provider_that_ignores_requests(sharing: Sharing, clock: MovableClock) -> None:
    req = sharing.request()
    move_to(sharing, clock, clock.now + timedelta(days=30))
    assert sla_sweep(sharing.runtime) == [req["id"]]
    found = findings(sharing)
    assert [(f["rule"], f["article"], f["organisation"]) for f in found] == [
        ("request-unanswered", "23(5)", sharing.civil)
    ]
    assert found[0]["resource"] == f"ShareRequest/{req['id']}"


def test_copies_kept_after_the_grant_ended(sharing: Sharing, clock: MovableClock) -> None:
    kept, destroyed, unread = (grant_for(sharing, GRANTED) for _ in range(3))
    for grant in (kept, destroyed, unread):
        if grant != unread:  # a grant never read through left no copies to destroy
            assert sharing.read(grant, fields="age").status_code == 200
        r = sharing.client.post(
            f"/sharing/grants/{grant}/revoke",
            headers=sharing.h("civil_clerk"),
            json={"reason": "end"},
        )
        assert r.status_code == 200
    r = sharing.client.post(
        f"/sharing/grants/{destroyed}/destruction",
        headers=sharing.h("health_clerk"),
        json={"method": "deleted from the follow-up system; backups purged"},
    )
    assert r.status_code == 200, r.text
    other = sharing.client.post(
        f"/sharing/grants/{kept}/destruction",
        headers=sharing.h("transport_clerk"),
        json={"method": "x"},
    )
    assert other.status_code == 403  # only the grantee declares
    move_to(sharing, clock, clock.now + timedelta(days=6))
    assert findings(sharing) == []
    move_to(sharing, clock, clock.now + timedelta(days=2))
    found = findings(sharing)
    assert [(f["rule"], f["article"], f["resource"]) for f in found] == [
        ("copy-not-destroyed", "23(4)", f"Grant/{kept}")
    ]
    assert found[0]["organisation"] == sharing.health


def test_supervisors_who_leave_findings_untouched(sharing: Sharing, clock: MovableClock) -> None:
    grant = grant_for(sharing, GRANTED)
    assert sharing.read(grant, fields="name").status_code == 403
    first = findings(sharing)
    assert [f["rule"] for f in first] == ["fields-outside-grant"]
    move_to(sharing, clock, clock.now + timedelta(days=8))
    found = findings(sharing)
    late = [f for f in found if f["rule"] == "finding-untouched"]
    assert [(f["article"], f["organisation"], f["facts"]["finding"]) for f in late] == [
        ("23(6)", sharing.runtime.settings.city_code, first[0]["id"])
    ]
    # handling the finding is itself ledgered; a dismissal must say why
    h = sharing.h("admin")
    url = f"/supervision/findings/{late[0]['id']}/status"
    assert sharing.client.post(url, headers=h, json={"status": "dismissed"}).status_code == 422
    r = sharing.client.post(url, headers=h, json={"status": "acknowledged", "note": "on it"})
    assert r.status_code == 200 and r.json()["handled_by"] == "admin"
    r = sharing.client.post(url, headers=h, json={"status": "acknowledged"})
    assert r.status_code == 409


def test_enterprises_fall_under_article_24(sharing: Sharing, clock: MovableClock) -> None:
    from citybrain.kernel.gate import Resource
    from citybrain.kernel.identity import service as identity
    from citybrain.kernel.runtime import SYSTEM_ACTOR
    from tests.helpers import credit_code, make_user

    rt = sharing.runtime
    code = credit_code(909)
    with rt.gate.system(
        SYSTEM_ACTOR, code, "org.create", Resource("Org", code), request_id="t"
    ) as s:
        identity.create_organisation(
            s, code=code, name="某科技公司", kind="enterprise", level="department"
        )
    token = make_user(rt, "vendor", code, "clerk")
    grant = grant_for(sharing, GRANTED)
    r = sharing.client.get(
        f"/sharing/grants/{grant}/records",
        headers={"Authorization": f"Bearer {token}"},
        params={"purpose": "public-health", "fields": "age"},
    )
    assert r.status_code == 403
    found = findings(sharing)
    assert [(f["rule"], f["article"], f["organisation"]) for f in found] == [
        ("read-without-live-grant", "24", code)
    ]
    # replaying the whole ledger (a lost cursor) raises nothing twice
    with rt.factory.begin() as s:
        s.get(DetectorCursor, "main").next_seq = 0
    detector_of(rt).reset()
    assert detector_of(rt).catch_up().read > 50
    assert len(findings(sharing)) == 1


def test_findings_alert_the_organisations_security_officer(
    sharing: Sharing, clock: MovableClock
) -> None:
    r = sharing.client.put(
        f"/security/officers/{sharing.health}",
        headers=sharing.h("health_clerk"),
        json={"officer": "doctor"},
    )
    assert r.status_code == 200, r.text
    alerts: list[Any] = []
    sub = sharing.runtime.bus.subscribe(
        "governance.supervision.finding_raised", lambda e: alerts.append(e)
    )
    try:
        grant = grant_for(sharing, GRANTED)
        assert sharing.read(grant, purpose="statistics").status_code == 403
        found = findings(sharing)
    finally:
        sub.close()
    assert [(a.rule, a.article, a.organisation, a.officer) for a in alerts] == [
        ("purpose-outside-grant", "23(1)", sharing.health, "doctor")
    ]
    assert alerts[0].finding_id == found[0]["id"]
