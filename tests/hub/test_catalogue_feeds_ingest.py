"""A dataset registered in the catalogue receives batches validated against its schema."""

from __future__ import annotations

from tests.hub.conftest import World


def test_batch_into_a_catalogued_dataset(world: World) -> None:
    world.register(
        id="air-quality",
        schema={
            "fields": [
                {"name": "station", "type": "string", "constraints": {"required": True}},
                {"name": "pm25", "type": "number", "constraints": {"minimum": 0}},
            ],
            "primaryKey": ["station"],
        },
    )
    h = world.h("admin") | {"Content-Type": "text/csv"}
    ok = world.client.post(
        "/hub/datasets/air-quality/batches", headers=h, content="station,pm25\n西湖,35\n滨江,12\n"
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["rows_accepted"] == 2
    bad = world.client.post(
        "/hub/datasets/air-quality/batches", headers=h, content="station,pm25\n西湖,-1\n"
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "pm25" and bad.json()["line"] == 2
    missing = world.client.post("/hub/datasets/nope/batches", headers=h, content="a\n1\n")
    assert missing.status_code == 404
    assert missing.json()["field"] == "dataset_id"
