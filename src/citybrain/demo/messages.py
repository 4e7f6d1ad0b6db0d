"""Readings as stream messages, signed by their provider's Ed25519 key.

A message's payload is UTF-8 JSON::

    {"msg_id": "demo-<seed>-<dataset>-<YYYYmmddTHHMMSSZ>-<group>",
     "entities": [<NGSI-LD entity, normalized>, ...],
     "key_id": "<provider key id>", "sig": "<base64 Ed25519 signature>"}

The signature covers the canonical JSON of the payload without ``sig`` (sorted keys, no
spaces, UTF-8). The dirty provider's messages carry neither ``key_id`` nor ``sig``.
Provider keys are derived from the seed, so the same seed always signs with the same keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from citybrain.demo.city import DATASET_BY_SLUG, DISTRICTS, ORG_BY_KEY, SIGNING_ORGS
from citybrain.demo.sensors import Entity, Report, Simulation, area_entity
from citybrain.hub.ingest.service import key_id_for
from citybrain.hub.stream.batcher import StreamMessage

SOURCE = "demo"
AREAS_DATASET = "administrative-districts"


def canonical(obj: Any) -> bytes:
    """The canonical JSON bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


@dataclass(frozen=True)
class ProviderKey:
    """A provider organisation's signing key, derived from the seed."""

    organisation: str
    private_key: Ed25519PrivateKey
    public_key_b64: str
    key_id: str

    def sign(self, data: bytes) -> str:
        """Base64 Ed25519 signature of ``data``."""
        return base64.b64encode(self.private_key.sign(data)).decode("ascii")


def provider_key(seed: int, organisation: str) -> ProviderKey:
    """The signing key of ``organisation`` (a credit code) in the demo with ``seed``."""
    secret = hashlib.sha256(f"citybrain-demo/{seed}/provider-key/{organisation}".encode()).digest()
    private = Ed25519PrivateKey.from_private_bytes(secret)
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    public_b64 = base64.b64encode(raw).decode("ascii")
    return ProviderKey(organisation, private, public_b64, key_id_for(public_b64))


def provider_keys(seed: int) -> dict[str, ProviderKey]:
    """Keys of every signing provider, by organisation credit code."""
    codes = [ORG_BY_KEY[key].code for key in SIGNING_ORGS]
    return {code: provider_key(seed, code) for code in codes}


def topic_of(org_code: str, dataset: str) -> str:
    """``citybrain/<org>/<dataset>/entities``."""
    return f"citybrain/{org_code}/{dataset}/entities"


def msg_id(seed: int, dataset: str, t: datetime | None, group: int) -> str:
    """A deterministic message id: the same reading always travels under the same id."""
    stamp = "static" if t is None else t.strftime("%Y%m%dT%H%M%SZ")
    return f"demo-{seed}-{dataset}-{stamp}-{group}"


def make_message(
    *,
    org_code: str,
    dataset: str,
    message_id: str,
    entities: list[Entity],
    key: ProviderKey | None,
    received_at: datetime | None = None,
) -> StreamMessage:
    """One stream message; signed when ``key`` is given."""
    payload: dict[str, Any] = {"msg_id": message_id, "entities": entities}
    if key is not None:
        payload["key_id"] = key.key_id
        payload["sig"] = key.sign(canonical(payload))
    extra = {"received_at": received_at} if received_at is not None else {}
    return StreamMessage(
        source=SOURCE,
        topic=topic_of(org_code, dataset),
        payload=canonical(payload),
        org=org_code,
        dataset=dataset,
        kind="entities",
        **extra,
    )


def verify_payload(payload: dict[str, Any], public_key_b64: str) -> bool:
    """True when ``payload["sig"]`` is the key's signature of the payload without ``sig``."""
    from citybrain.ledger.signing import CheckpointSigner

    sig = payload.get("sig")
    if not isinstance(sig, str):
        return False
    unsigned = {k: v for k, v in payload.items() if k != "sig"}
    return CheckpointSigner.verify(public_key_b64, canonical(unsigned), base64.b64decode(sig))


class MessageFactory:
    """Turns the simulation's reports into stream messages for one seed."""

    def __init__(self, seed: int, simulation: Simulation | None = None) -> None:
        self.seed = seed
        self.simulation = simulation or Simulation(seed)
        self.keys = provider_keys(seed)

    def from_report(self, report: Report) -> list[StreamMessage]:
        """One message per non-empty group of the report."""
        spec = report.stream.spec
        org = spec.provider_code
        key = self.keys[org] if report.stream.signed else None
        return [
            make_message(
                org_code=org,
                dataset=spec.slug,
                message_id=msg_id(self.seed, spec.slug, report.time, i),
                entities=list(group),
                key=key,
                received_at=report.time,
            )
            for i, group in enumerate(report.groups)
            if group
        ]

    def between(
        self, after: datetime, until: datetime, silent_from: datetime | None = None
    ) -> Iterator[StreamMessage]:
        """Messages of every report in ``(after, until]``, in time order."""
        for report in self.simulation.reports(after, until, silent_from):
            yield from self.from_report(report)

    def districts(self, received_at: datetime | None = None) -> list[StreamMessage]:
        """The district outlines (the map's base layer), signed by the data bureau."""
        spec = DATASET_BY_SLUG[AREAS_DATASET]
        org = spec.provider_code
        return [
            make_message(
                org_code=org,
                dataset=AREAS_DATASET,
                message_id=msg_id(self.seed, AREAS_DATASET, None, 0),
                entities=[area_entity(d) for d in DISTRICTS],
                key=self.keys.get(org),
                received_at=received_at,
            )
        ]
