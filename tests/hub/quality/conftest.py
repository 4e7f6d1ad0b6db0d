"""Quality fixtures: policies and gate actions, departments and accounts, and builders that
insert catalogue datasets, batches, records, entities and dead letters directly."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from citybrain.api.app import create_app
from citybrain.hub.catalogue.api import register_gate_actions as catalogue_actions
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.entities.models import NgsiEntity, NgsiEntityRevision
from citybrain.hub.ingest.models import DatasetRecord, IngestBatch
from citybrain.hub.quality.monitor import register_gate_actions
from citybrain.hub.stream.models import StreamDeadLetter
from citybrain.kernel.gate import Resource
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.policy.engine import split_policies
from citybrain.kernel.policy.service import create_policy, known_names
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime
from tests.helpers import bearer, make_org, make_user

# The quality and catalogue policies ship in kernel/policies/default.cedar; installing these
# test copies is a no-op unless a test deactivated one.
POLICY_FILES = (
    Path(__file__).parent / "quality.cedar",
    Path(__file__).parent.parent / "catalogue.cedar",
)
CTX = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "station", "type": "string", "constraints": {"required": True}},
        {
            "name": "pm25",
            "type": "number",
            "constraints": {"required": True, "minimum": 0, "maximum": 1000},
        },
        {"name": "level", "type": "string", "constraints": {"enum": ["good", "moderate", "bad"]}},
        {"name": "code", "type": "string", "constraints": {"pattern": "[A-Z]{2}[0-9]{3}"}},
        {"name": "ts", "type": "datetime"},
    ],
    "primaryKey": ["station", "ts"],
}
_seq = itertools.count(1)


def install_policies(runtime: Runtime) -> None:
    """Store the quality (and catalogue) policies as the local operator and reload."""
    with runtime.reader() as session:
        known = known_names(session)
    for path in POLICY_FILES:
        for name, description, text in split_policies(path.read_text(encoding="utf-8")):
            if name in known:
                continue
            with runtime.gate.system(
                SYSTEM_ACTOR,
                runtime.settings.city_code,
                "policy.create",
                Resource("Policy", name),
                request_id="quality-test",
            ) as session:
                create_policy(
                    session, name=name, text=text, description=description, created_by="test"
                )
    runtime.policy_engine.invalidate()


def good_row(n: int) -> dict[str, Any]:
    """A record that meets every constraint of SCHEMA."""
    return {
        "station": f"S{n}",
        "pm25": 10.0 + n,
        "level": "good",
        "code": f"HZ{n % 1000:03d}",
        "ts": "2024-05-01T08:00:00Z",
    }


@dataclass
class City:
    """A runtime with builders for quality fixtures; ``now`` is the reference time."""

    runtime: Runtime
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def org(self, n: int) -> str:
        """A department (created once)."""
        from tests.helpers import credit_code

        code = credit_code(n)
        with self.runtime.reader() as s:
            if s.scalar(select(Organisation.id).where(Organisation.code == code)) is None:
                make_org(self.runtime, n)
        return code

    def dataset(
        self,
        slug: str,
        provider: str,
        freq: str = "PT5M",
        *,
        open_data: bool = True,
        schema: dict[str, Any] | None = None,
        age: timedelta = timedelta(days=2),
    ) -> str:
        """Register a catalogue dataset directly."""
        with self.runtime.factory.begin() as s:
            org_id = s.scalar(select(Organisation.id).where(Organisation.code == provider))
            s.add(
                Dataset(
                    slug=slug,
                    provider_id=org_id,
                    title_zh=f"数据集{slug}",
                    title_en=f"Dataset {slug}",
                    description_zh="测试",
                    description_en="test",
                    theme="environment",
                    keywords_zh=[],
                    keywords_en=[],
                    update_frequency=freq,
                    table_schema=schema or SCHEMA,
                    grade="general",
                    sharing="unconditional",
                    open_data=open_data,
                    created_at=self.now - age,
                    modified_at=self.now - age,
                    modified_by="test",
                )
            )
        return slug

    def batch(
        self,
        slug: str,
        org: str,
        ago: timedelta,
        *,
        rows: int = 10,
        quarantined: int = 0,
        verified: bool | None = True,
        mode: str = "quarantine",
        records: list[dict[str, Any]] | None = None,
        ledger_seq: int | None = None,
    ) -> int:
        """An ingest batch received ``ago`` before now, with its records."""
        n = next(_seq)
        at = self.now - ago
        with self.runtime.factory.begin() as s:
            b = IngestBatch(
                dataset_id=slug,
                organisation=org,
                actor="test",
                source="test",
                format="mqtt" if mode == "stream" else "csv",
                encoding="utf-8",
                size_bytes=100,
                content_sha256=hashlib.sha256(f"{slug}{n}".encode()).hexdigest(),
                mode=mode,
                rows_total=rows,
                rows_accepted=rows - quarantined,
                rows_quarantined=quarantined,
                signature="sig" if verified is not None else None,
                signature_key_id="k1" if verified is not None else None,
                signature_verified=verified,
                received_at=at,
                ledger_seq=ledger_seq,
            )
            s.add(b)
            s.flush()
            for i, payload in enumerate(records or []):
                s.add(
                    DatasetRecord(
                        dataset_id=slug,
                        record_key=f"{n}-{i}",
                        payload=payload,
                        batch_id=b.id,
                        updated_at=at,
                    )
                )
            return b.id

    def punctual(self, slug: str, org: str, hours: float = 3, **kw: Any) -> list[int]:
        """A batch every 5 minutes for ``hours``, the newest a minute ago."""
        count = int(hours * 12)
        return [self.batch(slug, org, timedelta(minutes=1 + 5 * k), **kw) for k in range(count)]

    def entity(
        self,
        slug: str | None,
        org: str,
        ident: str,
        ago: timedelta,
        values: dict[str, Any],
        *,
        at: tuple[float, float] | None = None,
        poi: str | None = None,
    ) -> None:
        """An NGSI-LD entity last modified ``ago`` before now, with short-named properties."""
        t = self.now - ago
        stamp = t.isoformat().replace("+00:00", "Z")
        attrs: dict[str, Any] = {
            CTX + k: {"type": "Property", "value": v, "observedAt": stamp}
            for k, v in values.items()
        }
        if at is not None:
            attrs[LOCATION] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": at}}
        if poi is not None:
            attrs[CTX + "refPointOfInterest"] = {"type": "Relationship", "object": poi}
        with self.runtime.factory.begin() as s:
            s.add(
                NgsiEntity(
                    tenant=org,
                    entity_id=ident,
                    entity_type=CTX + "AirQualityObserved",
                    attrs=attrs,
                    min_x=at[0] if at else None,
                    min_y=at[1] if at else None,
                    max_x=at[0] if at else None,
                    max_y=at[1] if at else None,
                    provider=org,
                    dataset=slug,
                    created_at=t - timedelta(days=1),
                    modified_at=t,
                    observed_at=t,
                )
            )
            s.add(
                NgsiEntityRevision(
                    tenant=org,
                    entity_id=ident,
                    observed_from=t,
                    observed_to=t,
                    attrs=attrs,
                    recorded_at=t,
                )
            )

    def dead_letter(self, org: str, slug: str, ago: timedelta, n: int = 1) -> list[int]:
        """``n`` dead letters on the provider's stream topic of the dataset."""
        with self.runtime.factory.begin() as s:
            rows = [
                StreamDeadLetter(
                    source="mqtt",
                    topic=f"citybrain/{org}/{slug}/observed",
                    msg_id=None,
                    payload="{not json",
                    reason="invalid JSON",
                    received_at=self.now - ago,
                )
                for _ in range(n)
            ]
            s.add_all(rows)
            s.flush()
            return [r.id for r in rows]


@pytest.fixture
def city(runtime: Runtime) -> City:
    """Builders over a migrated runtime, with the quality gate actions declared."""
    register_gate_actions()
    return City(runtime)


def quality_app(runtime: Runtime) -> FastAPI:
    """The shared app (api/app.py mounts the quality routes and board)."""
    return create_app(runtime)


@dataclass
class World:
    """An app with the quality routes, two providers and accounts of every kind."""

    city: City
    client: TestClient
    transport: str
    health: str
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        """Authorization header of ``who``."""
        return bearer(self.tokens[who])

    def ledger_size(self) -> int:
        """Entries in the ledger (committed, including group-committed reads)."""
        rt = self.city.runtime
        with rt.factory() as s:
            return rt.ledger.size(s)


@pytest.fixture
def world(city: City) -> Iterator[World]:
    """Policies, departments 300 (transport) and 301 (health), operator, auditor, clerks of
    both, a transport service account; the quality routers mounted on the shared app."""
    rt = city.runtime
    catalogue_actions()
    install_policies(rt)
    root = rt.settings.city_code
    transport, health = city.org(300), city.org(301)
    tokens = {"admin": rt.issue_token_for("admin")[0]}
    tokens["operator"] = make_user(rt, "op", root, "operator")
    tokens["auditor"] = make_user(rt, "aud", root, "auditor")
    tokens["clerk"] = make_user(rt, "clerk", transport, "clerk")
    tokens["other_clerk"] = make_user(rt, "nurse", health, "clerk")
    tokens["service"] = make_user(rt, "svc", transport, "service", service_account=True)
    with TestClient(quality_app(rt)) as client:
        yield World(city, client, transport, health, tokens)
