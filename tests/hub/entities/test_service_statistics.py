"""The entity store keeps PostgreSQL's statistics from going stale during a bulk load (else
id lookups read the whole table per batch); on SQLite the check is a no-op."""

from __future__ import annotations

import time

from sqlalchemy import text

from citybrain.hub.entities import service
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime


def _batch(start: int, n: int) -> list[dict]:
    return [
        {"id": f"urn:ngsi-ld:Thing:{i}", "type": ["urn:t:Thing"], "attrs": {}}
        for i in range(start, start + n)
    ]


def test_bulk_load_keeps_statistics(runtime: Runtime) -> None:
    register_action("entity.write", "collect")
    org = runtime.settings.city_code
    for k in range(3):
        if k and runtime.engine.dialect.name == "postgresql":
            time.sleep(1.1)  # PostgreSQL publishes a backend's table counters at most once a second
        with runtime.gate.system(
            SYSTEM_ACTOR, org, "entity.write", Resource("EntityStore", "city", org),
            request_id=f"load-{k}",
        ) as session:  # fmt: skip
            service.batch_write(
                session, "", _batch(k * 1500, 1500), mode="upsert", provider=org,
                now=runtime.clock(),
            )  # fmt: skip
    with runtime.reader() as session:
        assert (
            len(
                service.existing_owners(
                    session, "", [f"urn:ngsi-ld:Thing:{i}" for i in range(4500)]
                )
            )
            == 4500
        )
        if runtime.engine.dialect.name != "postgresql":
            return
        tuples = session.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = 'ngsi_entities'::regclass")
        )
    assert tuples >= 1500  # analyzed during the load, not left at "empty"
