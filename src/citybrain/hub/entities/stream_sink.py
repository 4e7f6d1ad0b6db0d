"""Streamed entities into the store: the validator and sink a ``MicroBatcher`` runs for
messages of kind ``entities`` (topic ``citybrain/{org}/{dataset}/entities``).

A message is ``{"msg_id": ..., "entities": [NGSI-LD entity, ...], "key_id"?: ..., "sig"?: ...}``
where ``sig`` is Ed25519 (base64) over the canonical JSON of the message without ``sig``. The
validator expands each entity with the core @context, checks its attributes against the
dataset's Table Schema and the signature against the provider's registered keys; what fails
becomes a dead letter with the reason. The sink writes a micro-batch in one transaction with
ONE ledger entry, one provenance row per dataset (``ingest_batches``, format ``stream``) and an
upsert of every entity into the city's shared store.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from citybrain.hub.catalogue.service import CatalogueDirectory
from citybrain.hub.entities import context as ldctx
from citybrain.hub.entities import service
from citybrain.hub.entities.problems import NgsiError
from citybrain.hub.ingest.models import IngestBatch
from citybrain.hub.ingest.service import verify_signature
from citybrain.hub.ingest.tableschema import TableSchema, compile_schema, validate_row
from citybrain.hub.stream.batcher import StreamMessage
from citybrain.kernel.errors import CityBrainError
from citybrain.kernel.gate import Resource
from citybrain.kernel.runtime import Runtime

STREAM_POLICY = "stream-collection"
CACHE_S = 30.0
OWNER_CACHE = 200_000


def canonical(message: Mapping[str, Any]) -> bytes:
    """The signed bytes: canonical JSON of the message without ``sig``."""
    body = {k: v for k, v in message.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class _Checked:
    entities: list[dict[str, Any]]
    verified: bool | None


class EntityStreamSink:
    """Validator + sink for entity streams (see module docstring)."""

    def __init__(
        self, runtime: Runtime, on_written: Callable[[str, list[str]], None] | None = None
    ):
        self.runtime = runtime
        self.on_written = on_written
        self.terms = ldctx.ContextResolver(hosts=[], max_bytes=1, timeout_s=1, cache_s=0).terms(
            ldctx.request_context(None, None, None)
        )
        self._schemas: dict[str, tuple[float, TableSchema | None, str]] = {}
        self._checked: dict[int, _Checked] = {}
        self._owners: dict[str, str] = {}  # entity id → providing organisation (a cache)
        self._lock = threading.Lock()
        self.directory = CatalogueDirectory()

    def _schema(self, dataset: str) -> tuple[TableSchema | None, str]:
        now = time.monotonic()
        hit = self._schemas.get(dataset)
        if hit and now - hit[0] < CACHE_S:
            return hit[1], hit[2]
        with self.runtime.reader() as session:
            descriptor, provider = self.directory.schema_of(session, dataset)
        compiled = compile_schema(descriptor) if descriptor else None
        self._schemas[dataset] = (now, compiled, provider)
        return compiled, provider

    def validate(self, msg: StreamMessage) -> str | None:
        """None when the message may be stored, else the reason it becomes a dead letter."""
        data = msg.data
        if msg.kind not in (None, "entities") or not msg.org or not msg.dataset:
            return (
                "topic must be citybrain/{org}/{dataset}/entities (NATS: collect.{org}.{dataset})"
            )
        if not isinstance(data, dict) or not isinstance(data.get("entities"), list):
            return "payload must be an object with an 'entities' array"
        if not data["entities"]:
            return "'entities' is empty"
        try:
            schema, provider = self._schema(msg.dataset)
        except CityBrainError as exc:
            return f"dataset {msg.dataset!r}: {exc.detail}"
        if provider != msg.org:
            return f"organisation {msg.org} does not provide dataset {msg.dataset!r}"
        verified = self._verify(msg.org, data)
        if verified is False:
            return "the signature does not verify against the provider's registered keys"
        out = []
        for index, doc in enumerate(data["entities"]):
            try:
                entity = ldctx.expand_entity(doc, self.terms)
                service.single_type(entity)
                service.check_geometries(entity["attrs"], ldctx.short_name)
            except NgsiError as exc:
                return f"entities[{index}]: {exc.detail}" + (f" ({exc.field})" if exc.field else "")
            if schema is not None:
                reason = _schema_problem(schema, entity, index)
                if reason:
                    return reason
            out.append(entity)
        foreign = self._foreign(msg.org, [e["id"] for e in out])
        if foreign:
            return f"entity {foreign!r} is provided by another organisation (谁提供谁负责)"
        with self._lock:
            self._checked[id(msg)] = _Checked(out, verified)
        return None

    def _foreign(self, org: str, ids: list[str]) -> str | None:
        """The first id that another organisation provides in the shared store, if any."""
        unknown = [i for i in ids if i not in self._owners]
        if unknown:
            with self.runtime.reader() as session:
                found = service.existing_owners(session, "", unknown)
            with self._lock:
                if len(self._owners) > OWNER_CACHE:
                    self._owners.clear()
                self._owners.update(found)
        return next((i for i in ids if self._owners.get(i, org) != org), None)

    def _verify(self, org: str, data: Mapping[str, Any]) -> bool | None:
        sig = data.get("sig")
        if not sig:
            return None
        with self.runtime.reader() as session:
            try:
                verified, _ = verify_signature(session, org, canonical(data), str(sig))
            except CityBrainError:
                return False
        return verified

    def __call__(self, messages: list[StreamMessage]) -> None:
        """Store one micro-batch: one transaction, one ledger entry."""
        groups: dict[tuple[str, str], list[StreamMessage]] = defaultdict(list)
        for msg in messages:
            groups[(msg.org or "", msg.dataset or "")].append(msg)
        ids = sorted(m.msg_id for m in messages)
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
        orgs = sorted({org for org, _ in groups})
        now = self.runtime.clock()
        written: dict[str, list[str]] = {}
        with self.runtime.gate.system(
            f"stream:{orgs[0]}" if len(orgs) == 1 else "stream:many",
            orgs[0] if len(orgs) == 1 else self.runtime.settings.city_code,
            "entity.collect",
            Resource("StreamBatch", digest[:16], orgs[0] if len(orgs) == 1 else None),
            request_id=f"stream-{digest[:16]}",
            purpose=f"{len(messages)} messages sha256:{digest}",
            policy=STREAM_POLICY,
        ) as session:
            for (org, dataset), msgs in groups.items():
                checked = [self._take(m) for m in msgs]
                entities = [e for c in checked for e in c.entities]
                key = hashlib.sha256("\n".join(sorted(m.msg_id for m in msgs)).encode()).hexdigest()
                seen = session.scalar(
                    select(IngestBatch.id).where(
                        IngestBatch.dataset_id == dataset, IngestBatch.content_sha256 == key
                    )
                )
                if seen is not None:
                    continue  # a redelivered micro-batch: stored already
                service.batch_write(
                    session,
                    "",
                    entities,
                    mode="upsert-update",
                    provider=org,
                    dataset=dataset,
                    now=now,
                )
                session.add(_provenance(msgs, org, dataset, key, checked, len(entities), now))
                written[dataset] = [e["id"] for e in entities]
                with self._lock:
                    self._owners.update(dict.fromkeys(written[dataset], org))
        if self.on_written:
            for ids_written in written.values():
                self.on_written("", ids_written)

    def _take(self, msg: StreamMessage) -> _Checked:
        with self._lock:
            found = self._checked.pop(id(msg), None)
        if found is None:  # validated by another path: check again
            reason = self.validate(msg)
            if reason:
                raise ValueError(reason)
            with self._lock:
                found = self._checked.pop(id(msg))
        return found


def _schema_problem(schema: TableSchema, entity: Mapping[str, Any], index: int) -> str | None:
    row: dict[str, Any] = {}
    for iri, attr in entity["attrs"].items():
        name = ldctx.short_name(iri)
        if name in schema.name_set and isinstance(attr, dict):
            row[name] = attr.get("value", attr.get("object"))
    if "id" in schema.name_set:
        row["id"] = entity["id"]
    _, errors = validate_row(schema, row, index)
    if errors:
        err = errors[0]
        return f"entities[{index}].{err.field}: {err.reason}"
    return None


def _provenance(
    msgs: list[StreamMessage],
    org: str,
    dataset: str,
    key: str,
    checked: list[_Checked],
    rows: int,
    now: Any,
) -> IngestBatch:
    # True: every message verified; None: some came unsigned (invalid ones never get here)
    flags = [c.verified for c in checked]
    verified = True if all(f is True for f in flags) else None
    return IngestBatch(
        dataset_id=dataset,
        organisation=org,
        actor=f"stream:{org}",
        source=msgs[0].topic[:500],
        format=msgs[0].source[:20] or "stream",
        encoding="utf-8",
        size_bytes=sum(len(m.payload) for m in msgs),
        content_sha256=key,
        mode="stream",
        rows_total=rows,
        rows_accepted=rows,
        rows_quarantined=0,
        signature=None,
        signature_key_id=None,
        signature_verified=verified,
        received_at=now,
    )
