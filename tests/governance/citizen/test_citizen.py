"""The citizen's view: an account tied to a checked ID number sees every read and deletion of
records linked to it (when, which department, why, which grant, which ledger entry), exports
it, objects to a use, and can do nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citybrain.governance.retention import service as retention
from citybrain.kernel.events import Event
from tests.governance.conftest import Sharing, dataset_body, id_number
from tests.helpers import bearer

PASSWORD = "my-own-password-1"


def citizen(world: Sharing, n: int, name: str) -> dict[str, str]:
    """Register resident ``n`` as ``name`` and sign in; returns the auth header."""
    r = world.client.post(
        "/citizen/register",
        json={
            "name": name,
            "display_name": "市民",
            "id_number": id_number(n),
            "password": PASSWORD,
        },
    )
    assert r.status_code == 201, r.text
    assert id_number(n) not in r.text
    token = world.client.post("/auth/login", json={"name": name, "password": PASSWORD})
    return bearer(token.json()["access_token"])


def uses(world: Sharing, h: dict[str, str]) -> list[dict[str, Any]]:
    r = world.client.get("/citizen/me/uses", headers=h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_registration_checks_the_id_number(sharing: Sharing) -> None:
    bad = id_number(0)[:-1] + ("0" if id_number(0)[-1] != "0" else "1")
    r = sharing.client.post(
        "/citizen/register", json={"name": "liu", "id_number": bad, "password": PASSWORD}
    )
    assert r.status_code == 422 and r.json()["field"] == "id_number"
    citizen(sharing, 0, "zhang")
    again = sharing.client.post(
        "/citizen/register",
        json={"name": "zhang2", "id_number": id_number(0), "password": PASSWORD},
    )
    assert again.status_code == 409 and again.json()["field"] == "id_number"


def test_reads_through_grants_and_deletions_are_shown_to_the_citizens_concerned(
    sharing: Sharing,
) -> None:
    zhang = citizen(sharing, 0, "zhang")  # 西湖区
    wang = citizen(sharing, 2, "wang")  # 滨江区
    assert uses(sharing, zhang) == []
    grant = sharing.request(dataset="assist-unconditional")["grant"]
    assert sharing.read(grant["id"]).status_code == 200
    req = sharing.request(fields=["person_id", "district"])
    narrow = sharing.approve(
        req["id"], row_filter=[{"column": "district", "op": "=", "value": "滨江区"}]
    )["grant"]
    assert sharing.read(narrow["id"]).status_code == 200
    mine = uses(sharing, zhang)
    assert len(mine) == 1
    use = mine[0]
    assert use["organisation"] == sharing.health and use["actor"] == "doctor"
    assert use["grant"] == grant["id"] and use["action"] == "share"
    assert "public-health" in use["purpose"] and use["ledger_seq"] is not None
    assert [u["grant"] for u in uses(sharing, wang)] == [narrow["id"], grant["id"]]

    # Retention destroys the conditional dataset's records: Wang sees that too.
    r = sharing.client.put(
        "/retention/rules/assist-conditional", headers=sharing.h("civil_clerk"), json={"days": 1}
    )
    assert r.status_code == 200
    rt = sharing.runtime
    assert retention.destroy_expired(rt, "assist-conditional", rt.clock() + timedelta(days=2))
    latest = uses(sharing, wang)[0]
    assert latest["action"] == "delete" and latest["dataset"] == "assist-conditional"

    csv = sharing.client.get("/citizen/me/uses.csv", headers=wang)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("at,organisation") and len(lines) == 4
    assert sharing.health in csv.text


def test_objections_reach_the_bus_and_only_for_ones_own_uses(sharing: Sharing) -> None:
    zhang = citizen(sharing, 0, "zhang")
    wang = citizen(sharing, 2, "wang")
    grant = sharing.request(dataset="assist-unconditional")["grant"]
    sharing.read(grant["id"])
    heard: list[Event] = []
    sharing.runtime.bus.subscribe("governance.citizen", heard.append)
    use_id = uses(sharing, zhang)[0]["id"]
    r = sharing.client.post(
        "/citizen/me/objections", headers=wang, json={"use_id": use_id, "text": "不是我的"}
    )
    assert r.status_code == 404 and r.json()["field"] == "use_id"
    r = sharing.client.post(
        "/citizen/me/objections", headers=zhang, json={"use_id": use_id, "text": "我不同意"}
    )
    assert r.status_code == 201 and r.json()["status"] == "open"
    assert [e.topic for e in heard] == ["governance.citizen.objection_opened"]
    listed = sharing.client.get("/citizen/me/objections", headers=zhang).json()
    assert [o["text"] for o in listed] == ["我不同意"]


def test_a_citizen_account_can_do_nothing_else(sharing: Sharing) -> None:
    zhang = citizen(sharing, 0, "zhang")
    for method, path, body in (
        ("GET", "/catalog/datasets", None),
        ("GET", "/sharing/requests", None),
        ("GET", f"/orgs/{sharing.civil}", None),
        (
            "POST",
            "/sharing/requests",
            {"dataset": "assist-unconditional", "fields": ["age"], "purpose": "research"},
        ),
        ("GET", "/ledger/entries", None),
    ):
        r = sharing.client.request(method, path, headers=zhang, json=body)
        assert r.status_code == 403, (path, r.text)
        assert "citizens-only-their-own@v1" in r.json()["policies"]
    assert sharing.client.get("/me", headers=zhang).status_code == 200
    clerk = sharing.client.get("/citizen/me/uses", headers=sharing.h("health_clerk"))
    assert clerk.status_code == 403


def test_the_subject_field_follows_the_datasets_metadata_version(sharing: Sharing) -> None:
    """The subject field is looked up once per metadata version: a new version that drops the
    flag stops linking reads to citizens at once, and one that restores it starts again."""
    zhang = citizen(sharing, 0, "zhang")
    grant = sharing.request(dataset="assist-unconditional")["grant"]
    assert sharing.read(grant["id"]).status_code == 200
    assert len(uses(sharing, zhang)) == 1

    def flag(subject: bool) -> None:
        body = dataset_body("assist-unconditional", sharing.civil, "unconditional")
        del body["id"]  # the path names it
        for f in body["schema"]["fields"]:
            if f["name"] == "id_number":
                f["subject"] = subject
        r = sharing.client.put(
            "/catalog/datasets/assist-unconditional", headers=sharing.h("admin"), json=body
        )
        assert r.status_code == 200, r.text

    flag(False)
    assert sharing.read(grant["id"]).status_code == 200
    assert len(uses(sharing, zhang)) == 1  # no subject field in this version: no link
    flag(True)
    assert sharing.read(grant["id"]).status_code == 200
    assert len(uses(sharing, zhang)) == 2


def test_failed_registrations_from_one_address_are_throttled(sharing: Sharing) -> None:
    """Probing ID numbers (each 409 says 'this number has an account') is slowed: after
    REGISTER_FAILURES failures from one address within the window, 429 with Retry-After."""
    from citybrain.governance.citizen.api import REGISTER_FAILURES

    citizen(sharing, 0, "zhang")
    for n in range(REGISTER_FAILURES):
        r = sharing.client.post(
            "/citizen/register",
            json={"name": f"probe{n}", "id_number": id_number(0), "password": PASSWORD},
        )
        assert r.status_code == 409, r.text
    r = sharing.client.post(
        "/citizen/register",
        json={"name": "wang", "id_number": id_number(2), "password": PASSWORD},
    )
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "registrations" in r.json()["detail"]
