"""Streamed entities through the real Mosquitto into the store: schema, signatures, ownership,
one ledger entry per micro-batch, provenance, idempotent redelivery, history kept."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select

from citybrain.hub.entities.models import NgsiEntity, NgsiEntityRevision
from citybrain.hub.entities.stream_sink import EntityStreamSink, canonical
from citybrain.hub.ingest.models import IngestBatch
from citybrain.hub.ingest.service import register_provider_key
from citybrain.hub.stream import MqttCollector
from citybrain.hub.stream.models import StreamDeadLetter
from citybrain.hub.stream.service import SqlDeadLetterStore
from citybrain.kernel.gate import Resource
from citybrain.kernel.runtime import SYSTEM_ACTOR
from citybrain.ledger.models import LedgerEntry
from tests.bus.brokers import require_mqtt
from tests.hub.entities.conftest import City
from tests.stream.test_mqtt_collector import Publisher

pytestmark = pytest.mark.xdist_group("mqtt")
SCHEMA = {
    "fields": [
        {"name": "pm25", "type": "number", "constraints": {"required": True, "minimum": 0}},
        {"name": "name", "type": "string"},
    ]
}


def _register(city: City, slug: str, provider: str) -> None:
    body = {
        "id": slug, "title_zh": "空气质量", "description_zh": "监测站读数",
        "provider_code": provider, "theme": "environment", "update_frequency": "PT5M",
        "schema": SCHEMA, "grade": "general", "sharing": "unconditional", "open_data": True,
    }  # fmt: skip
    r = city.client.post("/catalog/datasets", headers=city.h("admin"), json=body)
    assert r.status_code == 201, r.text


def _key(city: City, org: str) -> Ed25519PrivateKey:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    rt = city.runtime
    with rt.gate.system(
        SYSTEM_ACTOR, org, "provider_key.write", Resource("ProviderKey", org, org), request_id="t"
    ) as s:
        register_provider_key(
            s, organisation=org, public_key_b64=base64.b64encode(raw).decode(), actor="t"
        )
    return private


def _message(n: int, pm25: Any, key: Ed25519PrivateKey | None, hour: int = 8) -> dict[str, Any]:
    body: dict[str, Any] = {
        "msg_id": f"m-{n}-{hour}",
        "entities": [
            {
                "id": f"urn:ngsi-ld:AirQualityObserved:{n}",
                "type": "AirQualityObserved",
                "pm25": {"type": "Property", "value": pm25,
                         "observedAt": f"2026-11-25T{hour:02d}:00:00Z"},
                "location": {"type": "GeoProperty",
                             "value": {"type": "Point", "coordinates": [120.1, 30.2]}},
            }
        ],
    }  # fmt: skip
    if key is not None:
        body["key_id"] = "k"
        body["sig"] = base64.b64encode(key.sign(canonical(body))).decode()
    return body


def test_entities_stream_in_signed_checked_and_ledgered_per_micro_batch(city: City) -> None:
    require_mqtt()
    rt = city.runtime
    slug = f"aq-{uuid.uuid4().hex[:8]}"
    _register(city, slug, city.env)
    key = _key(city, city.env)
    other_key = Ed25519PrivateKey.generate()
    sink = EntityStreamSink(rt)
    col = MqttCollector(
        sink,
        client_id=f"cbt-entities-{uuid.uuid4().hex[:8]}",
        dead_letters=SqlDeadLetterStore(rt.factory),
        validator=sink.validate,
        dataset=slug,
        max_batch=50,
    ).start()
    topic = f"citybrain/{city.env}/{slug}/entities"
    with rt.reader() as s:
        ledger_before = s.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.resource.like("StreamBatch/%"))
        )
    pub = Publisher()
    try:
        for n in range(40):
            pub.send(topic, _message(n, 10.0 + n, key))
        for n in range(40):  # a second reading of each: history, not a new entity
            pub.send(topic, _message(n, 20.0 + n, key, hour=9))
        pub.send(topic, _message(0, 20.0, key, hour=9))  # the same message again
        pub.send(topic, _message(100, -5.0, key))  # below the schema's minimum
        pub.send(topic, _message(101, 12.0, other_key))  # signed with an unknown key
        pub.send(topic, _message(102, 12.0, None))  # unsigned: stored, flagged
        assert col.wait_idle(30)
    finally:
        col.stop()
        pub.close()
    with rt.reader() as s:
        stored = s.scalar(
            select(func.count()).select_from(NgsiEntity).where(NgsiEntity.dataset == slug)
        )
        history = s.scalar(
            select(func.count())
            .select_from(NgsiEntityRevision)
            .where(NgsiEntityRevision.entity_id.like("urn:ngsi-ld:AirQualityObserved:%"))
        )
        dead = {
            d.msg_id: d.reason
            for d in s.scalars(select(StreamDeadLetter).where(StreamDeadLetter.topic == topic))
        }
        batches = s.scalars(select(IngestBatch).where(IngestBatch.dataset_id == slug)).all()
        ledger_after = s.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.resource.like("StreamBatch/%"))
        )
        latest = s.scalar(
            select(NgsiEntity.attrs).where(
                NgsiEntity.entity_id == "urn:ngsi-ld:AirQualityObserved:3"
            )
        )
    assert stored == 41  # 40 signed stations + the unsigned one
    assert history == 81  # every reading once, the duplicate not again
    assert set(dead) == {"m-100-8", "m-101-8"}
    assert "pm25" in dead["m-100-8"] and "signature" in dead["m-101-8"]
    assert sum(b.rows_total for b in batches) == 81 and all(b.mode == "stream" for b in batches)
    assert any(b.signature_verified is None for b in batches)  # the unsigned reading's batch
    assert ledger_after - ledger_before == len(batches)  # one entry per micro-batch
    assert len(batches) < 81  # micro-batches, not one per message
    pm25 = next(v for k, v in latest.items() if k.endswith("pm25"))
    assert pm25["value"] == 23.0 and pm25["observedAt"] == "2026-11-25T09:00:00Z"


def test_a_provider_cannot_stream_over_another_providers_entity(city: City) -> None:
    rt = city.runtime
    slug = f"aq-{uuid.uuid4().hex[:8]}"
    _register(city, slug, city.health)
    assert (
        city.create(
            "clerk",
            {"id": "urn:ngsi-ld:AirQualityObserved:1", "type": "AirQualityObserved", "pm25": 3},
        ).status_code
        == 201
    )
    sink = EntityStreamSink(rt)
    from citybrain.hub.stream.batcher import StreamMessage

    msg = StreamMessage(
        source="test", topic=f"citybrain/{city.health}/{slug}/entities",
        payload=json.dumps(_message(1, 50.0, None)).encode(), org=city.health, dataset=slug,
        kind="entities",
    )  # fmt: skip
    msg.data = json.loads(msg.payload)
    reason = sink.validate(msg)
    assert reason and "another organisation" in reason
