"""Shared entities of a restricted dataset (Art9): another organisation's readers see them only
through a live records grant; the provider and overseers always; subscriptions alike."""

from __future__ import annotations

from typing import Any

from citybrain.hub.entities import service
from citybrain.hub.entities.notifier import Notifier
from citybrain.hub.entities.visibility import DatasetScope
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.runtime import SYSTEM_ACTOR
from tests.governance.conftest import Sharing
from tests.hub.entities.test_subscriptions import Receiver, wait_for

TYPE = "https://uri.etsi.org/ngsi-ld/default-context/Household"
PATH = "/ngsi-ld/v1/entities"


def put_entities(world: Sharing, dataset: str | None, prefix: str, n: int = 3) -> None:
    register_action("entity.write", "collect")
    entities = [
        {"id": f"urn:ngsi-ld:Household:{prefix}{i}", "type": [TYPE], "attrs": {}} for i in range(n)
    ]
    rt = world.runtime
    res = Resource("EntityStore", "city", rt.settings.city_code)
    with rt.gate.system(SYSTEM_ACTOR, world.civil, "entity.write", res, request_id="t") as s:
        service.batch_write(
            s, "", entities, mode="upsert", provider=world.civil, dataset=dataset, now=rt.clock()
        )


def ids(world: Sharing, who: str) -> list[str]:
    r = world.client.get(PATH, headers=world.h(who), params={"type": "Household"})
    assert r.status_code == 200, r.text
    return sorted(e["id"].rsplit(":", 1)[1] for e in r.json())


def one(world: Sharing, who: str, entity: str) -> Any:
    return world.client.get(f"{PATH}/urn:ngsi-ld:Household:{entity}", headers=world.h(who))


def test_restricted_entities_need_a_grant(sharing: Sharing) -> None:
    put_entities(sharing, "assist-conditional", "c")
    put_entities(sharing, "assist-unconditional", "u")
    put_entities(sharing, None, "n")
    everything = ["c0", "c1", "c2", "n0", "n1", "n2", "u0", "u1", "u2"]
    assert ids(sharing, "civil_clerk") == everything  # the provider
    assert ids(sharing, "operator") == everything and ids(sharing, "auditor") == everything
    assert ids(sharing, "health_clerk") == ["n0", "n1", "n2", "u0", "u1", "u2"]
    assert one(sharing, "health_clerk", "c0").status_code == 404
    info = sharing.client.get("/ngsi-ld/v1/types/Household", headers=sharing.h("health_clerk"))
    assert info.status_code == 200 and info.json()["entityCount"] == 6  # not counting c0-c2
    mine = sharing.client.get("/ngsi-ld/v1/types/Household", headers=sharing.h("civil_clerk"))
    assert mine.json()["entityCount"] == 9

    # A records grant on the conditional dataset opens its entities to the grantee only.
    req = sharing.request(fields=["district"])
    sharing.approve(req["id"])
    assert "c0" in ids(sharing, "health_clerk")
    assert one(sharing, "health_clerk", "c0").status_code == 200
    assert ids(sharing, "transport_clerk") == ["n0", "n1", "n2", "u0", "u1", "u2"]


def test_a_sandbox_grant_does_not_open_entities(sharing: Sharing) -> None:
    put_entities(sharing, "assist-conditional", "c", n=1)
    req = sharing.request(fields=["district", "age"], mode="sandbox")
    sharing.approve(req["id"])
    assert ids(sharing, "health_clerk") == []


def test_scope_semantics() -> None:
    scope = DatasetScope(hidden=("secret",))
    assert None in scope and "open" in scope and "secret" not in scope
    only = DatasetScope(only=("a",), hidden=("a",))
    assert "a" not in only and None not in only


def test_subscriptions_notify_only_what_the_owner_may_see(sharing: Sharing) -> None:
    receiver = Receiver()
    notifier = Notifier(sharing.runtime, timeout_s=2.0)
    sharing.client.app.state.ngsi_notifier = notifier  # type: ignore[attr-defined]
    notifier.start()
    try:
        doc = {
            "type": "Subscription",
            "entities": [{"type": "Household"}],
            "notification": {"endpoint": {"uri": receiver.url("/health")}},
        }
        r = sharing.client.post(
            "/ngsi-ld/v1/subscriptions", headers=sharing.h("health_clerk"), json=doc
        )
        assert r.status_code == 201, r.text
        put_entities(sharing, "assist-conditional", "c", n=2)
        notifier.changed("", ["urn:ngsi-ld:Household:c0", "urn:ngsi-ld:Household:c1"], None)
        put_entities(sharing, "assist-unconditional", "u", n=1)
        notifier.changed("", ["urn:ngsi-ld:Household:u0"], None)
        wait_for(lambda: receiver.bodies("/health"))
        wait_for(notifier.idle)
        sent = [e["id"] for body in receiver.bodies("/health") for e in body["data"]]
        assert sent == ["urn:ngsi-ld:Household:u0"]
    finally:
        notifier.stop()
        receiver.close()
