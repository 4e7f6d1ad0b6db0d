"""Batch collection logic (no HTTP): parse, validate, store atomically or with quarantine,
idempotently by content hash, with provenance and provider-signature verification.

The caller runs ``ingest_batch`` inside the gate (``Gate.act`` / ``Governed.act`` with action
``dataset.collect``) so that the batch and its ledger entry commit, or roll back, together.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from citybrain.hub.ingest import readers
from citybrain.hub.ingest.models import (
    MODES,
    DatasetRecord,
    IngestBatch,
    IngestQuarantine,
    ProviderKey,
)
from citybrain.hub.ingest.tableschema import (
    BatchValidator,
    FieldError,
    TableSchema,
    compile_schema,
    json_value,
)
from citybrain.kernel.clock import Clock, system_clock
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound
from citybrain.ledger.signing import CheckpointSigner, key_id_of

# Gate actions of this package and the ledger category (Art16) each is recorded under.
GATE_ACTIONS = {
    "dataset.collect": "collect",
    "dataset.read": "access",
    "provider_key.write": "admin",
}
DEFAULT_MAX_BYTES = readers.DEFAULT_MAX_BYTES
MAX_KEY_CHARS = 500
MAX_ERRORS_SHOWN = 50
CHUNK = 2000
_CANON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class DatasetDirectory(Protocol):
    """Where ingest learns a dataset's Table Schema and provider (the catalogue implements it)."""

    def schema_of(self, session: Session, dataset_id: str) -> tuple[Mapping[str, Any], str]:
        """(Table Schema descriptor, provider organisation code); NotFound if no such dataset."""
        ...


class InMemoryDirectory:
    """A DatasetDirectory held in memory (tests, demos, until the catalogue is ready)."""

    def __init__(self, datasets: Mapping[str, tuple[Mapping[str, Any], str]] | None = None) -> None:
        self._datasets: dict[str, tuple[Mapping[str, Any], str]] = dict(datasets or {})

    def add(self, dataset_id: str, schema: Mapping[str, Any], provider: str) -> None:
        """Declare a dataset with its schema and provider organisation."""
        compile_schema(schema)
        self._datasets[dataset_id] = (schema, provider)

    def schema_of(self, session: Session, dataset_id: str) -> tuple[Mapping[str, Any], str]:
        """(schema, provider) of ``dataset_id``."""
        try:
            return self._datasets[dataset_id]
        except KeyError:
            raise NotFound(f"no dataset {dataset_id!r}", field="dataset_id") from None


@dataclass(frozen=True)
class QuarantinedRow:
    """A rejected row: where, which field, why, and the row as received."""

    line: int
    field: str
    reason: str
    raw: Any


@dataclass(frozen=True)
class BatchResult:
    """What became of a batch, with its provenance. ``duplicate`` when it was stored before."""

    batch_id: int
    dataset_id: str
    organisation: str
    actor: str
    source: str
    format: str
    encoding: str | None
    size_bytes: int
    content_sha256: str
    mode: str
    rows_total: int
    rows_accepted: int
    rows_quarantined: int
    signature_key_id: str | None
    signature_verified: bool | None
    authenticity: str
    received_at: datetime
    ledger_seq: int | None
    duplicate: bool = False
    quarantine: list[QuarantinedRow] = field(default_factory=list)


def content_digest(data: bytes) -> str:
    """Hex SHA-256 of the raw uploaded bytes (the batch's identity within a dataset)."""
    return hashlib.sha256(data).hexdigest()


def authenticity_of(signed: bool, verified: bool | None) -> str:
    """verified | invalid-signature | unsigned | no-registered-key."""
    if verified is True:
        return "verified"
    if verified is False and signed:
        return "invalid-signature"
    if not signed:
        return "unsigned"
    return "no-registered-key"


def key_id_for(public_key_b64: str) -> str:
    """The key id of an Ed25519 public key given as base64; InvalidInput if it is not one."""
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("not base64", field="public_key") from None
    if len(raw) != 32:
        raise InvalidInput("an Ed25519 public key is 32 bytes", field="public_key")
    return key_id_of(raw)


def register_provider_key(
    session: Session,
    *,
    organisation: str,
    public_key_b64: str,
    actor: str,
    clock: Clock = system_clock,
) -> ProviderKey:
    """Register an Ed25519 public key (base64 of the 32 raw bytes) for ``organisation``."""
    key_id = key_id_for(public_key_b64)
    exists = session.scalar(
        select(ProviderKey.id).where(
            ProviderKey.organisation == organisation, ProviderKey.key_id == key_id
        )
    )
    if exists is not None:
        raise Conflict(f"key {key_id} is already registered for {organisation}", field="public_key")
    key = ProviderKey(
        organisation=organisation,
        key_id=key_id,
        public_key=public_key_b64,
        active=True,
        created_at=clock(),
        created_by=actor,
    )
    session.add(key)
    session.flush()
    return key


def verify_signature(
    session: Session, organisation: str, data: bytes, signature_b64: str | None
) -> tuple[bool | None, str | None]:
    """(verified, key id): True/False when the organisation has an active key, else None."""
    signature = b""
    if signature_b64:
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("the signature is not base64", field="signature") from None
    keys = session.scalars(
        select(ProviderKey).where(
            ProviderKey.organisation == organisation, ProviderKey.active.is_(True)
        )
    ).all()
    if not keys:
        return None, None
    if not signature:
        return False, None
    for key in keys:
        if CheckpointSigner.verify(key.public_key, data, signature):
            return True, key.key_id
    return False, None


def record_key(schema: TableSchema, row: Mapping[str, Any]) -> str:
    """The record's key: its primaryKey value(s), else the SHA-256 of its content."""
    if not schema.primary_key:
        return "sha256:" + hashlib.sha256(_CANON.encode(row).encode()).hexdigest()
    values = [row[p] for p in schema.primary_key]
    if len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return _CANON.encode(values[0] if len(values) == 1 else values)


def _json_safe(row: Mapping[str, Any]) -> Any:
    return json.loads(_CANON.encode({str(k): json_value(v) for k, v in row.items()}))


def _upsert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (dataset_id, record_key) DO UPDATE: the last batch wins."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(DatasetRecord.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["dataset_id", "record_key"],
        set_={c: stmt.excluded[c] for c in ("payload", "batch_id", "updated_at")},
    )
    for i in range(0, len(rows), CHUNK):
        session.execute(stmt, list(rows[i : i + CHUNK]))


def result_of(
    batch: IngestBatch, *, duplicate: bool = False, quarantine: list[QuarantinedRow] | None = None
) -> BatchResult:
    """The result of a stored batch (quarantined rows only if given)."""
    return BatchResult(
        batch_id=batch.id,
        dataset_id=batch.dataset_id,
        organisation=batch.organisation,
        actor=batch.actor,
        source=batch.source,
        format=batch.format,
        encoding=batch.encoding,
        size_bytes=batch.size_bytes,
        content_sha256=batch.content_sha256,
        mode=batch.mode,
        rows_total=batch.rows_total,
        rows_accepted=batch.rows_accepted,
        rows_quarantined=batch.rows_quarantined,
        signature_key_id=batch.signature_key_id,
        signature_verified=batch.signature_verified,
        authenticity=authenticity_of(batch.signature is not None, batch.signature_verified),
        received_at=batch.received_at,
        ledger_seq=batch.ledger_seq,
        duplicate=duplicate,
        quarantine=quarantine or [],
    )


def quarantine_of(session: Session, batch_id: int, limit: int = 1000) -> list[QuarantinedRow]:
    """The first ``limit`` quarantined rows of a batch, in line order."""
    rows = session.scalars(
        select(IngestQuarantine)
        .where(IngestQuarantine.batch_id == batch_id)
        .order_by(IngestQuarantine.line, IngestQuarantine.id)
        .limit(limit)
    )
    return [QuarantinedRow(q.line, q.field, q.reason, q.raw) for q in rows]


def batch_result(session: Session, batch: IngestBatch, *, duplicate: bool = False) -> BatchResult:
    """The result of a stored batch, with its quarantined rows."""
    return result_of(batch, duplicate=duplicate, quarantine=quarantine_of(session, batch.id))


def find_batch(session: Session, dataset_id: str, digest: str) -> IngestBatch | None:
    """The batch of ``dataset_id`` with this content hash, if one was stored."""
    return session.scalar(
        select(IngestBatch).where(
            IngestBatch.dataset_id == dataset_id, IngestBatch.content_sha256 == digest
        )
    )


def get_batch(session: Session, batch_id: int) -> IngestBatch:
    """The batch ``batch_id``; NotFound otherwise."""
    batch = session.get(IngestBatch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}", field="batch_id")
    return batch


def batches_query(dataset_id: str) -> Select[Any]:
    """The batches of a dataset (for keyset paging by id)."""
    return select(IngestBatch).where(IngestBatch.dataset_id == dataset_id)


def _rejection(errors: list[FieldError], bad_rows: int) -> InvalidInput:
    first = errors[0]
    return InvalidInput(
        f"{first.message()} ({bad_rows} bad row(s); nothing of this batch was stored)",
        field=first.field,
        line=first.line,
        bad_rows=bad_rows,
        errors=[{"line": e.line, "field": e.field, "reason": e.reason} for e in errors],
    )


def _validated(
    schema: TableSchema, rows: Iterator[tuple[int, dict[str, Any]]]
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any], str, list[FieldError]]]:
    """(line, raw row, JSON row, record key, errors) for each row, in order."""
    validator = BatchValidator(schema)
    # only these types can hold values JSON cannot (dates and times; anything under "any")
    convert = [f.name for f in schema.fields if f.type in ("date", "datetime", "time", "any")]
    for line, raw in rows:
        cast, errors = validator.validate(raw, line)
        key = ""
        if not errors:
            for name in convert:
                cast[name] = json_value(cast[name])
            key = record_key(schema, cast)
            if len(key) > MAX_KEY_CHARS:
                field_name = ",".join(schema.primary_key)
                reason = f"primary key longer than {MAX_KEY_CHARS} characters"
                errors = [FieldError(line, field_name, reason)]
        yield line, raw, cast, key, errors


def ingest_batch(
    session: Session,
    *,
    dataset_id: str,
    schema: Mapping[str, Any] | TableSchema,
    organisation: str,
    actor: str,
    data: bytes,
    fmt: str,
    mode: str = "atomic",
    source: str = "upload",
    signature_b64: str | None = None,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    ledger_seq: int | None = None,
    clock: Clock = system_clock,
) -> BatchResult:
    """Validate and store one batch in ``session`` (the caller commits, inside the gate).

    atomic: any bad row raises InvalidInput naming the first bad line and field, and nothing is
    written. quarantine: valid rows are stored, bad rows kept with their reasons. The same bytes
    sent again for the same dataset return the earlier result with ``duplicate=True``.
    """
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}", field="mode")
    readers.check_size(data, max_bytes)
    if len(source) > 500 or "\x00" in source:
        raise InvalidInput("source: at most 500 characters, no NUL", field="source")
    if signature_b64 is not None and len(signature_b64) > 200:
        raise InvalidInput("the signature is longer than 200 characters", field="signature")
    digest = content_digest(data)
    earlier = find_batch(session, dataset_id, digest)
    if earlier is not None:
        return batch_result(session, earlier, duplicate=True)
    ts = schema if isinstance(schema, TableSchema) else compile_schema(schema)
    used_encoding, rows = readers.read_rows(
        data, fmt, columns=ts.names, encoding=encoding, max_bytes=max_bytes
    )
    good: dict[str, dict[str, Any]] = {}  # by record key: the last row of a key wins
    bad: list[QuarantinedRow] = []
    errors: list[FieldError] = []
    bad_lines: set[int] = set()
    total = 0
    for line, raw, cast, key, row_errors in _validated(ts, rows):
        total += 1
        if not row_errors:
            good.pop(key, None)
            good[key] = cast
            continue
        bad_lines.add(line)
        if mode == "atomic":
            errors.extend(row_errors[: MAX_ERRORS_SHOWN - len(errors)])
            continue
        safe = _json_safe(raw)
        bad.extend(QuarantinedRow(e.line, e.field, e.reason, safe) for e in row_errors)
    if errors:
        raise _rejection(errors, len(bad_lines))
    verified, key_id = verify_signature(session, organisation, data, signature_b64)
    now = clock()
    batch = IngestBatch(
        dataset_id=dataset_id,
        organisation=organisation,
        actor=actor,
        source=source,
        format=fmt,
        encoding=used_encoding,
        size_bytes=len(data),
        content_sha256=digest,
        mode=mode,
        rows_total=total,
        rows_accepted=total - len(bad_lines),
        rows_quarantined=len(bad_lines),
        signature=signature_b64 or None,
        signature_key_id=key_id,
        signature_verified=verified,
        received_at=now,
        ledger_seq=ledger_seq,
    )
    session.add(batch)
    session.flush()
    records = [
        {
            "dataset_id": dataset_id,
            "record_key": key,
            "payload": row,
            "batch_id": batch.id,
            "updated_at": now,
        }
        for key, row in good.items()
    ]
    _upsert(session, records)
    if bad:
        session.add_all(
            IngestQuarantine(
                batch_id=batch.id, line=q.line, field=q.field[:200], reason=q.reason, raw=q.raw
            )
            for q in bad
        )
        session.flush()
    return result_of(batch, quarantine=bad[:1000])
