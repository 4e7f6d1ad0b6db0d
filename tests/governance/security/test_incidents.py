"""Security incidents: registered by the organisation (or the bureau), validated, followed up
open → contained → closed with a timeline; seen by the organisation and the bureau only."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citybrain.governance.security.incidents import NEXT_STATUS, STATUSES, check_transition
from citybrain.governance.security.schemas import IncidentRegistered
from citybrain.kernel.errors import Conflict, InvalidInput
from tests.governance.security.conftest import DATASET, World


def test_incident_lifecycle(world: World) -> None:
    world.put_officer("health_clerk", world.health, officer="chief")
    first_action = {"at": world.at(minutes=-30).isoformat(), "text": "断开导出账号"}
    r = world.incident(actions=[first_action])
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["organisation"] == world.health and inc["status"] == "open"
    assert inc["datasets"] == [DATASET] and inc["reported_by"] == "doctor"
    assert [a["text"] for a in inc["actions"]] == ["断开导出账号"]
    assert [(e["status_from"], e["status_to"]) for e in inc["timeline"]] == [(None, "open")]
    # the typed event carries whom the desk alerts
    [event] = [e for e in world.events if isinstance(e, IncidentRegistered)]
    assert (event.incident_id, event.organisation, event.officer) == (
        inc["id"],
        world.health,
        "chief",
    )
    assert event.severity == "high" and event.datasets == [DATASET]

    url = f"/security/incidents/{inc['id']}/updates"
    post = world.client.post
    # open → closed skips a step: 422 naming status; nothing changes
    skip = post(url, headers=world.h("health_clerk"), json={"status": "closed"})
    assert skip.status_code == 422 and skip.json()["field"] == "status"
    assert "contained" in skip.json()["detail"]
    empty = post(url, headers=world.h("health_clerk"), json={})
    assert empty.status_code == 422 and empty.json()["field"] == "status"
    world.clock.advance(60)
    contained = post(
        url,
        headers=world.h("health_clerk2"),
        json={"status": "contained", "actions": [{"text": "重置全部导出口令"}], "note": "已控制"},
    )
    assert contained.status_code == 200, contained.text
    body = contained.json()
    assert body["status"] == "contained"
    assert [a["text"] for a in body["actions"]] == ["断开导出账号", "重置全部导出口令"]
    last = body["timeline"][-1]
    assert (last["actor"], last["status_from"], last["status_to"]) == ("nurse", "open", "contained")
    assert last["note"] == "已控制"
    # another organisation neither reads nor updates it; the bureau's operator may follow up
    other = post(url, headers=world.h("transport_clerk"), json={"note": "x"})
    assert other.status_code == 403
    seen = world.client.get(f"/security/incidents/{inc['id']}", headers=world.h("transport_clerk"))
    assert seen.status_code == 403
    closed = post(url, headers=world.h("operator"), json={"status": "closed"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = post(url, headers=world.h("health_clerk"), json={"note": "补充"})
    assert again.status_code == 409 and again.json()["field"] == "status"
    got = world.client.get(f"/security/incidents/{inc['id']}", headers=world.h("auditor")).json()
    assert [e["status_to"] for e in got["timeline"]] == ["open", "contained", "closed"]
    assert [e["actor"] for e in got["timeline"]] == ["doctor", "nurse", "op"]
    missing = world.client.get("/security/incidents/999", headers=world.h("operator"))
    assert missing.status_code == 404


def test_incident_validation_names_the_field(world: World) -> None:
    def field_of(**over: object) -> str:
        r = world.incident(**over)
        assert r.status_code == 422, r.text
        return str(r.json()["field"])

    assert field_of(datasets=[DATASET, "no-such-data"]) == "datasets"
    assert field_of(severity="catastrophic") == "severity"
    assert field_of(occurred_at=world.at(hours=2).isoformat()) == "occurred_at"
    assert field_of(occurred_at="2025-01-01T08:00:00") == "occurred_at"  # no time zone
    assert field_of(title="") == "title"
    late = {"at": world.at(hours=-2).isoformat(), "text": "早于事件"}
    assert field_of(actions=[late]) == "actions.0.at"
    assert field_of(actions=[{"text": "   "}]) == "actions.0.text"
    unknown = world.incident("operator", organisation="91330100MA0000000X")
    assert unknown.status_code == 422 and unknown.json()["field"] == "organisation"
    assert (
        world.client.get("/security/incidents", headers=world.h("operator")).json()["items"] == []
    )
    # actions of a follow-up: not before the incident, not in the future
    r = world.incident(occurred_at=world.at(minutes=-5).isoformat())
    url = f"/security/incidents/{r.json()['id']}/updates"
    for at in (world.at(minutes=-6), world.at(minutes=1)):
        action = {"at": at.isoformat(), "text": "x"}
        bad = world.client.post(url, headers=world.h("health_clerk"), json={"actions": [action]})
        assert bad.status_code == 422 and bad.json()["field"] == "actions.0.at"
    # a clerk registers only for its own organisation (or one below it); the bureau for any
    assert world.incident(organisation=world.transport).status_code == 403
    assert world.incident(organisation=world.ward).status_code == 201
    assert world.incident("operator", organisation=world.transport).status_code == 201
    assert world.incident("auditor").status_code == 403
    assert world.incident("health_service").status_code == 403
    # the named officer without any post registers by that fact
    world.put_officer("health_clerk", world.health, officer="chief")
    assert world.incident("chief").status_code == 201


def test_incident_lists_are_scoped_filtered_and_paged(world: World) -> None:
    for severity in ("low", "medium", "high", "critical"):
        assert world.incident(severity=severity).status_code == 201
    assert world.incident("transport_clerk", datasets=[]).status_code == 201
    world.client.post(
        "/security/incidents/1/updates",
        headers=world.h("health_clerk"),
        json={"status": "contained"},
    )

    def ids(who: str, **params: object) -> list[int]:
        out: list[int] = []
        cursor = None
        while True:
            page = world.client.get(
                "/security/incidents",
                headers=world.h(who),
                params={**params, "limit": 2} | ({"cursor": cursor} if cursor else {}),
            )
            assert page.status_code == 200, page.text
            out += [i["id"] for i in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if not cursor:
                return out

    assert ids("health_clerk") == [1, 2, 3, 4]
    assert ids("transport_clerk") == [5]
    assert ids("supervisor") == [1, 2, 3, 4, 5]
    assert ids("auditor", org=world.transport) == [5]
    assert ids("operator", status="contained") == [1]
    assert ids("operator", severity="critical") == [4]
    assert ids("health_clerk", status="open", severity="low") == []
    # a clerk may ask for a unit below, not for another department
    assert ids("health_clerk", org=world.ward) == []
    denied = world.client.get(
        "/security/incidents", headers=world.h("transport_clerk"), params={"org": world.health}
    )
    assert denied.status_code == 403
    bad = world.client.get(
        "/security/incidents", headers=world.h("operator"), params={"status": "burning"}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "status"
    out = world.cli("incidents", "--severity", "critical", "--json")
    assert out.exit_code == 0, out.output
    assert [i["id"] for i in json.loads(out.output)] == [4]
    table = world.cli("incidents", "--org", world.transport)
    assert table.exit_code == 0 and world.transport in table.output
    wrong = world.cli("incidents", "--status", "burning")
    assert isinstance(wrong.exception, InvalidInput) and wrong.exception.field == "--status"


@given(st.sampled_from(STATUSES), st.one_of(st.none(), st.sampled_from(STATUSES), st.text()))
def test_only_the_next_step_is_a_valid_transition(current: str, wanted: str | None) -> None:
    if current == "closed":
        with pytest.raises(Conflict):
            check_transition(current, wanted)
    elif wanted is None:
        assert check_transition(current, wanted) is None
    elif NEXT_STATUS[current] == wanted:
        assert check_transition(current, wanted) == wanted
    else:
        with pytest.raises(InvalidInput) as err:
            check_transition(current, wanted)
        assert err.value.field == "status"
