"""Security officers: an organisation names its own (a user of it), the bureau names anyone's,
nobody names another organisation's; the directory shows who is missing; ``officer_of`` falls
back to the deputy and then to nobody."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citybrain.governance.security import service
from citybrain.kernel.errors import InvalidInput
from tests.governance.security.conftest import World, disable


def test_an_organisation_names_its_own_officer_and_no_one_elses(world: World) -> None:
    r = world.put_officer(
        "health_clerk", world.health, officer="doctor", deputy="nurse", contact="0571-8765 4321"
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["officer"], got["deputy"], got["acting"]) == ("doctor", "nurse", "doctor")
    assert got["named_by"] == "doctor" and got["contact"] == "0571-8765 4321"

    denied = world.put_officer("transport_clerk", world.health, officer="driver")
    assert denied.status_code == 403
    assert denied.json()["policies"] == ["default-deny"]
    # a user of another organisation cannot be named: 422 naming the field
    foreign = world.put_officer("health_clerk", world.health, officer="driver")
    assert foreign.status_code == 422 and foreign.json()["field"] == "officer"
    assert world.transport in foreign.json()["detail"]
    bad_deputy = world.put_officer("health_clerk", world.health, officer="doctor", deputy="op")
    assert bad_deputy.status_code == 422 and bad_deputy.json()["field"] == "deputy"
    same = world.put_officer("health_clerk", world.health, officer="doctor", deputy="doctor")
    assert same.status_code == 422 and same.json()["field"] == "deputy"
    robot = world.put_officer("health_clerk", world.health, officer="his")
    assert robot.status_code == 422 and robot.json()["field"] == "officer"
    nobody = world.put_officer("health_clerk", world.health, officer="ghost")
    assert nobody.status_code == 422 and nobody.json()["field"] == "officer"
    phone = world.put_officer("health_clerk", world.health, officer="doctor", contact="call me")
    assert phone.status_code == 422 and phone.json()["field"] == "contact"
    # nothing half-written: the first naming stands
    now = world.client.get(f"/security/officers/{world.health}", headers=world.h("auditor"))
    assert now.json()["deputy"] == "nurse"

    # the bureau's operator names the transport department's officer; a supervisor may not
    assert world.put_officer("supervisor", world.transport, officer="driver").status_code == 403
    r = world.put_officer("operator", world.transport, officer="driver")
    assert r.status_code == 200 and r.json()["named_by"] == "op"
    # a clerk of the parent organisation may name the unit's (本单位及下级), not the reverse
    assert world.put_officer("health_clerk", world.ward, officer="warden").status_code == 200
    assert world.put_officer("ward_clerk", world.health, officer="warden").status_code == 403
    missing = world.client.get(f"/security/officers/{world.root}", headers=world.h("operator"))
    assert missing.status_code == 404 and missing.json()["field"] == "org_code"


def test_the_directory_shows_who_is_missing(world: World) -> None:
    world.put_officer("health_clerk", world.health, officer="chief", deputy="doctor")
    bureau = world.client.get("/security/officers", headers=world.h("supervisor")).json()
    assert [o["organisation"] for o in bureau["officers"]] == [world.health]
    missing = {m["code"] for m in bureau["missing"]}
    assert {world.root, world.transport, world.ward} <= missing and world.health not in missing
    own = world.client.get("/security/officers", headers=world.h("health_clerk")).json()
    assert [o["organisation"] for o in own["officers"]] == [world.health]
    assert [m["code"] for m in own["missing"]] == [world.ward]  # own and below only
    other = world.client.get("/security/officers", headers=world.h("transport_clerk")).json()
    assert other == {"officers": [], "missing": [{"code": world.transport, "name": "机构502"}]}
    # the named officer (no post, no role) reads the register of its organisation by that fact
    chief = world.client.get(f"/security/officers/{world.health}", headers=world.h("chief"))
    assert chief.status_code == 200 and chief.json()["officer"] == "chief"
    assert (
        world.client.get("/security/officers", headers=world.h("health_service")).status_code == 403
    )


def test_officer_of_falls_back_to_the_deputy_then_to_nobody(world: World) -> None:
    rt = world.runtime
    with rt.reader() as s:
        assert service.officer_of(s, world.health) is None  # none named
    world.put_officer("health_clerk", world.health, officer="chief", deputy="nurse")
    with rt.reader() as s:
        assert service.officer_of(s, world.health) == "chief"
        assert service.officer_of(s, world.transport) is None
    disable(rt, "chief")
    with rt.reader() as s:
        assert service.officer_of(s, world.health) == "nurse"
    got = world.client.get(f"/security/officers/{world.health}", headers=world.h("auditor"))
    assert got.json()["acting"] == "nurse"
    disable(rt, "nurse")
    with rt.reader() as s:
        assert service.officer_of(s, world.health) is None
    world.put_officer("operator", world.transport, officer="driver")  # no deputy
    disable(rt, "driver")
    with rt.reader() as s:
        assert service.officer_of(s, world.transport) is None


PHONES = st.from_regex(r"\+?[0-9]{2,4}[ -]?[0-9]{3,4}[ -]?[0-9]{4}", fullmatch=True)


@given(PHONES)
def test_telephone_lines_are_accepted(line: str) -> None:
    assert service.check_contact(f"  {line} ") == line


@given(st.text(max_size=30).filter(lambda s: sum(c.isdigit() for c in s) < 5 and s.strip()))
def test_text_with_too_few_digits_is_not_a_contact_line(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        service.check_contact(text)
    assert err.value.field == "contact"
