"""A generated normal week raises no finding; the same week with one bulk pull raises one.

The week: clerks of three departments reading through their grants in office hours (a
seeded, uneven number per hour), a service account polling round the clock, daily batches of
the unconditional dataset, wide sandbox queries, requests answered within the SLA, a grant
that ends with its copies declared destroyed, a risk bulletin acknowledged in time, a dispute
accepted in time, and denials by policies no rule watches (a clerk
editing another department's dataset). Reads are appended to the ledger as the gate writes
them; everything else goes through the routes.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from citybrain.governance.supervision.api import detector_of
from citybrain.ledger.entry import EntryData
from tests.governance.conftest import Sharing, dataset_body, residents_csv
from tests.governance.supervision.conftest import MovableClock, local, move_to

CLERKS = {"doctor": "health", "driver": "transport", "his": "health"}


def _read(actor: str, org: str, grant: int, purpose: str) -> EntryData:
    return EntryData(
        actor=actor,
        organisation=org,
        action="share",
        resource="Dataset/assist-conditional",
        purpose=f"data.read: grant {grant} · {purpose}",
        decision="allow",
        policy_ids=("sharing-use-through-live-grant@v1",),
        request_id=f"r-{actor}-{random.random():.12f}",
    )


def _append_at(
    world: Sharing, clock: MovableClock, when: datetime, entries: list[EntryData]
) -> None:
    clock.now = when
    with world.runtime.factory.begin() as s:
        world.runtime.ledger.append_many(s, entries)


def normal_week(world: Sharing, clock: MovableClock, rng: random.Random) -> dict[str, int]:
    """Seven days of ordinary work; returns the grants used."""
    # grants: health (clerk + service) and transport, answered the day they are asked
    grants = {}
    for who in ("health_clerk", "transport_clerk"):
        req = world.request(who=who, purpose="public-health")
        grants[who] = world.approve(req["id"])["grant"]["id"]
    sandbox = world.request(who="health_clerk", mode="sandbox")
    grants["sandbox"] = world.approve(sandbox["id"])["grant"]["id"]
    short = world.request(who="health_clerk", term_days=2)
    short_grant = world.approve(short["id"])["grant"]["id"]
    assert world.read(short_grant).status_code == 200
    for day in range(7):
        move_to(world, clock, local(day, 7, 30))
        if day < 5:  # the unconditional dataset refreshed every working day (monthly promised)
            r = world.client.post(
                "/hub/datasets/assist-unconditional/batches",
                headers=world.h("civil_clerk") | {"Content-Type": "text/csv"},
                content=residents_csv(31 + day),
            )
            assert r.status_code == 201, r.text
        for hour in range(24):
            for minute in range(0, 60, 10):
                when = local(day, hour, minute)
                batch = []
                # the service account polls two to five times every ten minutes, day and night
                batch += [
                    _read("his", world.health, grants["health_clerk"], "public-health")
                    for _ in range(rng.randint(2, 5))
                ]
                office = day < 5 and (9 <= hour < 12 or 14 <= hour < 18)
                if office:
                    batch += [
                        _read("doctor", world.health, grants["health_clerk"], "public-health")
                        for _ in range(rng.randint(0, 12))
                    ]
                    batch += [
                        _read("driver", world.transport, grants["transport_clerk"], "public-health")
                        for _ in range(rng.randint(0, 6))
                    ]
                _append_at(world, clock, when + timedelta(minutes=rng.randint(0, 9)), batch)
        if day < 5:
            move_to(world, clock, local(day, 15))
            # a clerk tries to edit another department's dataset: denied, no rule watches it
            body = dataset_body("assist-conditional", world.civil, "conditional")
            del body["id"]
            r = world.client.put(
                "/catalog/datasets/assist-conditional",
                headers=world.h("transport_clerk"),
                json=body | {"title_zh": "改名"},
            )
            assert r.status_code == 403, r.text
            # a wide sandbox query: thirty rows, no finding
            r = world.client.post(
                f"/sharing/grants/{grants['sandbox']}/sandbox",
                headers=world.h("health_clerk"),
                json={"purpose": "public-health", "query": {"aggregates": [{"fn": "count"}]}},
            )
            assert r.status_code == 200, r.text
    # the short grant ended on day 2; its copies were declared destroyed on day 3
    move_to(world, clock, local(3, 10))
    r = world.client.post(
        f"/sharing/grants/{short_grant}/destruction",
        headers=world.h("health_clerk"),
        json={"method": "deleted after the follow-up"},
    )
    assert r.status_code == 200, r.text
    # a risk bulletin on Thursday, acknowledged by both departments before Saturday's deadline;
    # a dispute about a rejected batch, filed Thursday, accepted by the bureau on Friday
    move_to(world, clock, local(3, 15))
    body = {
        "title_zh": "摄像头固件漏洞",
        "body_zh": "请于周六前升级固件并确认。",
        "severity": "high",
        "audience": "chosen",
        "organisations": [world.health, world.transport],
        "ack_deadline": local(5, 18).isoformat(),
    }
    r = world.client.post("/security/bulletins", headers=world.h("operator"), json=body)
    assert r.status_code == 201, r.text
    bulletin = r.json()["id"]
    case = {
        "respondent": world.runtime.settings.city_code,
        "subject_type": "batch_rejected",
        "title": "批次被拒收",
        "claim": "The batch met the schema; the rejection was wrong.",
    }
    r = world.client.post("/disputes", headers=world.h("civil_clerk"), json=case)
    assert r.status_code == 201, r.text
    dispute = r.json()["id"]
    move_to(world, clock, local(4, 11))
    for who in ("health_clerk", "transport_clerk"):
        r = world.client.post(f"/security/bulletins/{bulletin}/ack", headers=world.h(who))
        assert r.status_code == 200, r.text
    r = world.client.post(
        f"/disputes/{dispute}/accept", headers=world.h("operator"), json={"accept": True}
    )
    assert r.status_code == 200, r.text
    return grants


def _scan(world: Sharing, clock: MovableClock, when: datetime) -> list[dict[str, object]]:
    move_to(world, clock, when)
    assert world.client.post("/supervision/scan", headers=world.h("admin")).status_code == 200
    r = world.client.get("/supervision/findings", headers=world.h("admin"), params={"limit": 500})
    return r.json()["items"]  # type: ignore[no-any-return]


def test_a_normal_week_raises_nothing_and_a_bulk_pull_is_seen(
    sharing: Sharing, clock: MovableClock
) -> None:
    grants = normal_week(sharing, clock, random.Random(20260302))
    with sharing.runtime.reader() as s:
        assert sharing.runtime.ledger.size(s) > 5_000  # a week of real volume
    assert _scan(sharing, clock, local(7, 9)) == []
    # the next Monday 10:00, the clerk pulls the dataset 400 times in ten minutes
    pull = [
        _read("doctor", sharing.health, grants["health_clerk"], "public-health") for _ in range(400)
    ]
    _append_at(sharing, clock, local(7, 10, 2), pull)
    found = _scan(sharing, clock, local(7, 10, 15))
    assert [(f["rule"], f["article"], f["actor"]) for f in found] == [
        ("bulk-read", "23(3)", "doctor")
    ]
    facts = found[0]["facts"]
    assert facts["count"] == 400 and 0 < facts["baseline"] <= 12  # type: ignore[index]
    assert detector_of(sharing.runtime).catch_up().opened == []
