"""Risk bulletins: the bureau issues them to all organisations or chosen ones; only addressed
organisations see and acknowledge them (once: a repeat keeps the first time); the bureau sees
who acknowledged, who is outstanding and — once the deadline passes — who is overdue."""

from __future__ import annotations

import json
from unittest.mock import ANY

from typer.testing import CliRunner

from citybrain.governance.security import service
from citybrain.governance.security.cli import app as security_cli
from citybrain.governance.security.schemas import BulletinIssued
from tests.governance.security.conftest import World


def test_the_bureau_issues_bulletins_to_chosen_organisations_alone(world: World) -> None:
    assert world.bulletin("health_clerk").status_code == 403
    assert world.bulletin("auditor").status_code == 403

    def field_of(**over: object) -> str:
        r = world.bulletin(**over)
        assert r.status_code == 422, r.text
        return str(r.json()["field"])

    assert field_of(ack_deadline=world.at(minutes=-1).isoformat()) == "ack_deadline"
    assert field_of(audience="chosen") == "organisations"
    assert field_of(audience="chosen", organisations=["91330100MA0000000X"]) == "organisations"
    assert field_of(organisations=[world.health]) == "organisations"  # 'all' names none
    assert field_of(severity="apocalyptic") == "severity"
    assert field_of(title_zh="") == "title_zh"
    nothing = world.client.get("/security/bulletins", headers=world.h("operator")).json()
    assert nothing == {"items": [], "next_cursor": None}  # nothing half-written

    r = world.bulletin(audience="chosen", organisations=[world.health, world.health])
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["counts"] == {"addressed": 1, "acknowledged": 0, "outstanding": 1, "overdue": 0}
    assert b["outstanding"] == [world.health] and b["own"] is None
    [event] = [e for e in world.events if isinstance(e, BulletinIssued)]
    assert (event.bulletin_id, event.organisations) == (b["id"], [world.health])
    url = f"/security/bulletins/{b['id']}"

    # the transport department sees nothing of it and cannot acknowledge it
    listed = world.client.get("/security/bulletins", headers=world.h("transport_clerk"))
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert world.client.get(url, headers=world.h("transport_clerk")).status_code == 403
    denied = world.client.post(url + "/ack", headers=world.h("transport_clerk"))
    assert denied.status_code == 403
    assert denied.json()["policies"] == ["security-ack-only-if-addressed@v1"]
    # not even the administrator acknowledges for an organisation not addressed
    assert world.client.post(url + "/ack", headers=world.h("admin")).status_code == 403
    # a unit under the addressed department is not addressed itself
    assert world.client.get(url, headers=world.h("ward_clerk")).status_code == 403

    mine = world.client.get("/security/bulletins", headers=world.h("health_clerk")).json()
    [item] = mine["items"]
    assert item["counts"] is None and item["own"]["acknowledged_at"] is None
    seen = world.client.get(url, headers=world.h("health_clerk")).json()
    assert seen["body_zh"].startswith("固件版本") and seen["acknowledged"] is None
    assert seen["outstanding"] is None  # the bureau's view only

    world.clock.advance(60)
    first = world.client.post(url + "/ack", headers=world.h("health_clerk"))
    assert first.status_code == 200, first.text
    world.clock.advance(60)
    second = world.client.post(url + "/ack", headers=world.h("health_clerk2"))
    assert second.status_code == 200
    assert second.json() == first.json()  # idempotent: the first time and person stand
    assert first.json()["acknowledged_by"] == "doctor"
    bureau = world.client.get(url, headers=world.h("supervisor")).json()
    assert bureau["counts"]["acknowledged"] == 1 and bureau["outstanding"] == []
    assert [
        (a["organisation"], a["acknowledged_by"], a["late"]) for a in bureau["acknowledged"]
    ] == [(world.health, "doctor", False)]
    missing = world.client.post("/security/bulletins/99/ack", headers=world.h("health_clerk"))
    assert missing.status_code == 404 and missing.json()["field"] == "id"


def test_a_bulletin_to_all_and_its_overdue_acknowledgements(world: World) -> None:
    r = world.bulletin("supervisor")
    assert r.status_code == 201, r.text
    b = r.json()
    others = {world.health, world.ward, world.transport}
    assert set(b["outstanding"]) == others  # every organisation but the issuing bureau's
    url = f"/security/bulletins/{b['id']}"
    # the health department's officer (no post) acknowledges by that fact
    world.put_officer("health_clerk", world.health, officer="chief")
    ack = world.client.post(url + "/ack", headers=world.h("chief"))
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "chief"
    with world.runtime.reader() as s:
        assert service.overdue_acknowledgements(s, world.clock()) == []

    world.clock.advance(11 * 60)  # past the ten-minute deadline
    bureau = world.client.get(url, headers=world.h("operator")).json()
    assert set(bureau["overdue"]) == {world.ward, world.transport}
    assert bureau["counts"] == {"addressed": 3, "acknowledged": 1, "outstanding": 2, "overdue": 2}
    listed = world.client.get("/security/bulletins", headers=world.h("auditor")).json()
    assert listed["items"][0]["counts"]["overdue"] == 2
    mine = world.client.get(url, headers=world.h("transport_clerk")).json()
    assert mine["own"]["overdue"] is True and mine["overdue"] is None
    with world.runtime.reader() as s:
        late = service.overdue_acknowledgements(s, world.clock())
    assert sorted((o.bulletin_id, o.organisation) for o in late) == sorted(
        (b["id"], org) for org in (world.ward, world.transport)
    )
    assert all(o.deadline.isoformat() == b["ack_deadline"].replace("Z", "+00:00") for o in late)

    # a late acknowledgement is kept and flagged late; the command line lists what remains
    assert world.client.post(url + "/ack", headers=world.h("ward_clerk")).status_code == 200
    after = world.client.get(url, headers=world.h("operator")).json()
    assert after["overdue"] == [world.transport]
    assert {a["organisation"]: a["late"] for a in after["acknowledged"]} == {
        world.health: False,
        world.ward: True,
    }
    out = world.cli("bulletins", "--overdue", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [
        {"bulletin": b["id"], "organisation": world.transport, "deadline": ANY}
    ]
    table = world.cli("bulletins")
    assert table.exit_code == 0 and "Vulnerable sensor firmware" in table.output


def test_the_command_line_help_is_bilingual() -> None:
    out = CliRunner().invoke(security_cli, ["--help"])
    assert out.exit_code == 0
    assert "risk bulletins" in out.output and "风险通报" in out.output
    for command in ("officers", "incidents", "bulletins"):
        assert command in out.output
