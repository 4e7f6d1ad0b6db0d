"""The entity store without HTTP: create, read, update, delete and batch operations on
NGSI-LD entities in their internal (expanded) form, with every write kept as history.

An internal entity is ``{"id": str, "type": [type IRI], "scope": [...]?, "attrs": {attr IRI:
normalized attribute}}`` as ``context.expand_entity`` produces it. Callers run these
functions inside the gate's unit of work; nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from citybrain.hub.entities import geo
from citybrain.hub.entities.context_loader import LOCATION
from citybrain.hub.entities.models import NgsiEntity, NgsiEntityRevision
from citybrain.hub.entities.problems import (
    AlreadyExists,
    BadRequestData,
    OperationNotSupported,
    ResourceNotFound,
)
from citybrain.hub.entities.visibility import DatasetScope, dataset_clause
from citybrain.kernel.db import UTCDateTime

ENTITY_TABLE = NgsiEntity.__table__
HISTORY_TABLE = NgsiEntityRevision.__table__


@dataclass
class BatchOutcome:
    """What a batch operation did: ids created, ids updated, and per-entity errors."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def succeeded(self) -> list[str]:
        """Ids created or updated."""
        return self.created + self.updated


def iso(value: datetime) -> str:
    """ISO-8601 UTC with ``Z``, as timestamps are stored inside attributes."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def parse_instant(text: str, field_name: str) -> datetime:
    """An ISO-8601 timestamp; BadRequestData naming ``field_name`` otherwise."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError) as exc:
        raise BadRequestData(f"not an ISO-8601 date-time: {text!r}", field=field_name) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def single_type(entity: Mapping[str, Any]) -> str:
    """The entity's one type IRI (multi-typed entities are not supported yet)."""
    types = entity.get("type") or []
    if isinstance(types, str):
        return types
    if len(types) != 1:
        raise OperationNotSupported(
            "entities with more than one type are not supported", field="type"
        )
    return str(types[0])


def _bbox(attrs: Mapping[str, Any]) -> tuple[float | None, ...]:
    loc = attrs.get(LOCATION)
    if not isinstance(loc, Mapping) or loc.get("type") != "GeoProperty":
        return (None, None, None, None)
    return tuple(geo.bbox_of(loc["value"]))


def _plain_point(value: Any) -> bool:
    """True for a well-formed GeoJSON Point inside WGS84 bounds (the common case, no shapely)."""
    if not isinstance(value, Mapping) or value.get("type") != "Point" or len(value) != 2:
        return False
    coords = value.get("coordinates")
    if not isinstance(coords, list) or len(coords) not in (2, 3):
        return False
    if not all(type(c) in (int, float) for c in coords):
        return False
    return -180.0 <= coords[0] <= 180.0 and -90.0 <= coords[1] <= 90.0


def check_geometries(attrs: Mapping[str, Any], short: Any = None) -> None:
    """Every GeoProperty value must be valid GeoJSON (BadRequestData naming the attribute)."""
    for name, attr in attrs.items():
        if isinstance(attr, Mapping) and attr.get("type") == "GeoProperty":
            value = attr.get("value")
            if _plain_point(value):
                continue
            label = short(name) if short else name
            geo.validate_geometry(value, field=label)


def _observed_span(attrs: Mapping[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """(oldest, newest) ``observedAt`` among the attributes; ``now`` when none has one.

    The stamps are normalised ISO-8601 UTC strings, so they order as text; only the two ends
    are parsed.
    """
    stamps = [
        at
        for attr in attrs.values()
        if isinstance(attr, Mapping) and isinstance(at := attr.get("observedAt"), str)
    ]
    if not stamps:
        return now, now
    try:
        return parse_instant(min(stamps), "observedAt"), parse_instant(max(stamps), "observedAt")
    except BadRequestData:
        return now, now


def _history_row(tenant: str, entity_id: str, attrs: Mapping[str, Any], now: datetime) -> dict:
    first, last = _observed_span(attrs, now)
    return {
        "tenant": tenant,
        "entity_id": entity_id,
        "observed_from": first,
        "observed_to": last,
        "attrs": dict(attrs),
        "recorded_at": now,
    }


def _row(
    tenant: str,
    entity: Mapping[str, Any],
    attrs: Mapping[str, Any],
    *,
    provider: str,
    dataset: str | None,
    now: datetime,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    min_x, min_y, max_x, max_y = _bbox(attrs)
    return {
        "observed_at": _observed_span(attrs, now)[1],
        "tenant": tenant,
        "entity_id": entity["id"],
        "entity_type": single_type(entity),
        "attrs": dict(attrs),
        "scope": entity.get("scope"),
        "min_x": min_x,
        "min_y": min_y,
        "max_x": max_x,
        "max_y": max_y,
        "provider": provider,
        "dataset": dataset,
        "created_at": created_at or now,
        "modified_at": now,
    }


def get_entity(session: Session, tenant: str, entity_id: str, *, lock: bool = False) -> NgsiEntity:
    """The stored entity; ResourceNotFound naming the id."""
    stmt = select(NgsiEntity).where(NgsiEntity.tenant == tenant, NgsiEntity.entity_id == entity_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise ResourceNotFound(f"no entity {entity_id!r}", field="entityId")
    return row


def existing_owners(session: Session, tenant: str, ids: Iterable[str]) -> dict[str, str]:
    """entity id → provider organisation of those ids that exist already."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, str] = {}
    if len(wanted) > 100:
        ensure_statistics(session)
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        rows = session.execute(
            select(NgsiEntity.entity_id, NgsiEntity.provider).where(
                NgsiEntity.tenant == tenant, NgsiEntity.entity_id.in_(chunk)
            )
        )
        found.update({eid: prov for eid, prov in rows})
    return found


def ensure_statistics(session: Session) -> None:
    """On PostgreSQL, ``ANALYZE ngsi_entities`` when it has changed more than it holds.

    A bulk load outruns autovacuum: with statistics of a (near) empty table the planner looks
    ids up through the bbox index's tenant prefix and reads every row per batch (quadratic:
    ~2 s per batch of 2,000 at 30,000 rows). Analyzing whenever the rows changed since the
    last ANALYZE outnumber those it counted keeps the unique index in use; the check is one
    catalogue read, the ANALYZE happens O(log n) times during a load.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    row = session.execute(
        text(
            "SELECT c.reltuples, s.n_mod_since_analyze FROM pg_class c "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = 'ngsi_entities'::regclass"
        )
    ).first()
    if row is not None and (row[1] or 0) > max(1000.0, row[0] or 0.0):
        session.execute(text("ANALYZE ngsi_entities"))


def create_entity(
    session: Session,
    tenant: str,
    entity: Mapping[str, Any],
    *,
    provider: str,
    dataset: str | None,
    now: datetime,
) -> None:
    """Store a new entity; AlreadyExists when the id is taken in this tenant."""
    if existing_owners(session, tenant, [entity["id"]]):
        raise AlreadyExists(f"entity {entity['id']!r} exists already", field="id")
    attrs = entity.get("attrs", {})
    row = _row(tenant, entity, attrs, provider=provider, dataset=dataset, now=now)
    session.execute(insert(ENTITY_TABLE), [row])
    session.execute(insert(HISTORY_TABLE), [_history_row(tenant, entity["id"], attrs, now)])


def delete_entity(session: Session, tenant: str, entity_id: str) -> None:
    """Remove an entity (its history stays); ResourceNotFound when absent."""
    result = session.execute(
        delete(NgsiEntity).where(NgsiEntity.tenant == tenant, NgsiEntity.entity_id == entity_id)
    )
    if result.rowcount == 0:
        raise ResourceNotFound(f"no entity {entity_id!r}", field="entityId")


def _save(session: Session, row: NgsiEntity, attrs: dict[str, Any], now: datetime) -> None:
    min_x, min_y, max_x, max_y = _bbox(attrs)
    session.execute(
        update(NgsiEntity)
        .where(NgsiEntity.id == row.id)
        .values(
            attrs=attrs,
            min_x=min_x,
            min_y=min_y,
            max_x=max_x,
            max_y=max_y,
            modified_at=now,
            observed_at=_observed_span(attrs, now)[1],
        )
    )


def update_attributes(
    session: Session,
    tenant: str,
    entity_id: str,
    attrs: Mapping[str, Any],
    *,
    append: bool,
    overwrite: bool = True,
    now: datetime,
) -> tuple[list[str], list[str]]:
    """Append (``POST .../attrs``) or update (``PATCH .../attrs``) attributes.

    Returns (updated, not updated) attribute IRIs: an update skips attributes the entity lacks;
    an append with ``overwrite=False`` skips attributes it has.
    """
    row = get_entity(session, tenant, entity_id, lock=True)
    current = dict(row.attrs)
    done, skipped = [], []
    for name, value in attrs.items():
        exists = name in current
        if (not append and not exists) or (append and exists and not overwrite):
            skipped.append(name)
            continue
        current[name] = value
        done.append(name)
    if done:
        _save(session, row, current, now)
        written = {name: attrs[name] for name in done}
        session.execute(insert(HISTORY_TABLE), [_history_row(tenant, entity_id, written, now)])
    return done, skipped


def patch_attribute(
    session: Session,
    tenant: str,
    entity_id: str,
    attr: str,
    fragment: Mapping[str, Any],
    *,
    now: datetime,
) -> None:
    """Partial update of one attribute: members given replace the stored ones."""
    row = get_entity(session, tenant, entity_id, lock=True)
    current = dict(row.attrs)
    if attr not in current:
        raise ResourceNotFound(f"entity {entity_id!r} has no attribute {attr!r}", field="attrId")
    merged = {**current[attr], **fragment}
    current[attr] = merged
    _save(session, row, current, now)
    session.execute(insert(HISTORY_TABLE), [_history_row(tenant, entity_id, {attr: merged}, now)])


def delete_attribute(
    session: Session, tenant: str, entity_id: str, attr: str, now: datetime
) -> None:
    """Remove one attribute; ResourceNotFound when the entity or attribute is absent."""
    row = get_entity(session, tenant, entity_id, lock=True)
    current = dict(row.attrs)
    if current.pop(attr, None) is None:
        raise ResourceNotFound(f"entity {entity_id!r} has no attribute {attr!r}", field="attrId")
    _save(session, row, current, now)


def replace_entity(
    session: Session, tenant: str, entity: Mapping[str, Any], *, now: datetime
) -> None:
    """``PUT /entities/{id}``: the entity keeps its id and creation time, all else is new."""
    row = get_entity(session, tenant, entity["id"], lock=True)
    if single_type(entity) != row.entity_type:
        row.entity_type = single_type(entity)
    attrs = dict(entity.get("attrs", {}))
    _save(session, row, attrs, now)
    session.execute(insert(HISTORY_TABLE), [_history_row(tenant, entity["id"], attrs, now)])


_ENTITY_COLUMNS = (
    "tenant", "entity_id", "entity_type", "attrs", "scope", "min_x", "min_y", "max_x", "max_y",
    "provider", "dataset", "created_at", "modified_at", "observed_at",
)  # fmt: skip
_HISTORY_COLUMNS = (
    "tenant", "entity_id", "observed_from", "observed_to", "attrs", "recorded_at",
)  # fmt: skip
_JSON_COLUMNS = ("attrs", "scope")
_TIME_COLUMNS = ("created_at", "modified_at", "observed_at", "observed_from", "observed_to",
                 "recorded_at")  # fmt: skip


def _bulk_sql(table: str, columns: tuple[str, ...], conflict: str | None) -> Any:
    names = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({values})"
    return text(
        sql + (f" ON CONFLICT (tenant, entity_id) DO UPDATE SET {conflict}" if conflict else "")
    )


def _prepared(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with JSON already text and times in the column type's stored form: one
    ``executemany`` of plain values, without per-row type processing."""
    dialect = session.get_bind().dialect
    to_time = UTCDateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    dumps = json.dumps
    times: dict[datetime, Any] = {}
    out = []
    for row in rows:
        item = dict(row)
        for key in _JSON_COLUMNS:
            if key in item and item[key] is not None:
                item[key] = dumps(item[key])
        for key in _TIME_COLUMNS:
            if key in item:
                value = item[key]
                if value not in times:
                    times[value] = to_time(value)
                item[key] = times[value]
        out.append(item)
    return out


def _bulk_write(
    session: Session, rows: list[dict[str, Any]], history: list[dict[str, Any]], merge: bool
) -> None:
    """Upsert entity rows and append their history rows, two statements in all."""
    kept = [
        "attrs", "min_x", "min_y", "max_x", "max_y", "modified_at", "observed_at", "scope",
    ] + ([] if merge else ["entity_type"])  # fmt: skip
    conflict = ", ".join(f"{c} = excluded.{c}" for c in kept)
    session.execute(_bulk_sql("ngsi_entities", _ENTITY_COLUMNS, conflict), _prepared(session, rows))
    session.execute(
        _bulk_sql("ngsi_entity_history", _HISTORY_COLUMNS, None), _prepared(session, history)
    )


def batch_write(
    session: Session,
    tenant: str,
    entities: Sequence[Mapping[str, Any]],
    *,
    mode: str,
    provider: str,
    dataset: str | None = None,
    now: datetime,
) -> BatchOutcome:
    """``entityOperations/create|upsert|update`` for many entities in one statement each.

    ``create`` refuses ids that exist; ``upsert`` replaces existing entities (or, with
    ``mode="upsert-update"``, merges attributes into them); ``update`` merges attributes into
    existing entities and refuses missing ones. Refused entities are listed in ``errors`` and
    the rest is written (the spec's per-entity outcome).
    """
    if mode not in ("create", "upsert", "upsert-update", "update"):
        raise ValueError(f"unknown batch mode {mode!r}")
    outcome = BatchOutcome()
    # an id given more than once: every occurrence is history, the last one (merged with the
    # earlier ones when merging) is the entity's state, as in Orion-LD
    seen: dict[str, list[Mapping[str, Any]]] = {}
    for entity in entities:
        seen.setdefault(entity["id"], []).append(entity)
    latest = {eid: versions[-1] for eid, versions in seen.items()}
    owners = existing_owners(session, tenant, latest)
    merge = mode in ("update", "upsert-update")
    current: dict[str, dict[str, Any]] = {}
    if merge and owners:
        wanted = [eid for eid in latest if eid in owners]
        for start in range(0, len(wanted), 900):
            rows = session.execute(
                select(NgsiEntity.entity_id, NgsiEntity.attrs).where(
                    NgsiEntity.tenant == tenant,
                    NgsiEntity.entity_id.in_(wanted[start : start + 900]),
                )
            )
            current.update({eid: dict(attrs) for eid, attrs in rows})
    rows_out: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for eid, entity in latest.items():
        exists = eid in owners
        if mode == "create" and exists:
            outcome.errors.append(_error(eid, AlreadyExists(f"entity {eid!r} exists already")))
            continue
        if mode == "update" and not exists:
            outcome.errors.append(_error(eid, ResourceNotFound(f"no entity {eid!r}")))
            continue
        versions = seen[eid]
        written = entity.get("attrs", {})
        if merge:
            attrs = dict(current.get(eid, {}))
            for version in versions:
                attrs.update(version.get("attrs", {}))
        else:
            attrs = dict(written)
        try:
            rows_out.append(
                _row(
                    tenant,
                    entity,
                    attrs,
                    provider=owners.get(eid, provider),
                    dataset=dataset,
                    now=now,
                )
            )
        except BadRequestData as exc:
            outcome.errors.append(_error(eid, exc))
            continue
        history.extend(_history_row(tenant, eid, v.get("attrs", {}), now) for v in versions)
        (outcome.updated if exists else outcome.created).append(eid)
    if rows_out:
        _bulk_write(session, rows_out, history, merge)
    return outcome


def batch_delete(session: Session, tenant: str, ids: Sequence[str]) -> BatchOutcome:
    """``entityOperations/delete``: ids that do not exist are reported, the rest removed."""
    outcome = BatchOutcome()
    owners = existing_owners(session, tenant, ids)
    present = [eid for eid in dict.fromkeys(ids) if eid in owners]
    for eid in dict.fromkeys(ids):
        if eid not in owners:
            outcome.errors.append(_error(eid, ResourceNotFound(f"no entity {eid!r}")))
    for start in range(0, len(present), 900):
        session.execute(
            delete(NgsiEntity).where(
                NgsiEntity.tenant == tenant, NgsiEntity.entity_id.in_(present[start : start + 900])
            )
        )
    outcome.updated = present
    return outcome


def _error(entity_id: str, exc: Exception) -> dict[str, Any]:
    detail = getattr(exc, "to_problem", None)
    problem = detail() if detail else {"detail": str(exc)}
    problem.pop("instance", None)
    return {"entityId": entity_id, "error": problem}


def _in_datasets(datasets: Sequence[str] | DatasetScope | None) -> Any:
    """No restriction (None), only entities of these datasets (anonymous: open data), or a
    reader's scope (restricted datasets hidden)."""
    return dataset_clause(datasets, NgsiEntity.dataset)


def entity_types(
    session: Session, tenant: str, datasets: Sequence[str] | DatasetScope | None = None
) -> list[tuple[str, int]]:
    """(type IRI, entity count) of a tenant (of ``datasets`` only, if given), sorted by type."""
    stmt = (
        select(NgsiEntity.entity_type, func.count())
        .where(NgsiEntity.tenant == tenant, _in_datasets(datasets))
        .group_by(NgsiEntity.entity_type)
        .order_by(NgsiEntity.entity_type)
    )
    return [(t, n) for t, n in session.execute(stmt)]


def attribute_names(
    session: Session,
    tenant: str,
    datasets: Sequence[str] | DatasetScope | None = None,
    limit_scan: int = 100_000,
) -> dict[str, set[str]]:
    """attribute IRI → the entity type IRIs that carry it (scans at most ``limit_scan`` rows)."""
    found: dict[str, set[str]] = {}
    stmt = (
        select(NgsiEntity.entity_type, NgsiEntity.attrs)
        .where(NgsiEntity.tenant == tenant, _in_datasets(datasets))
        .limit(limit_scan)
    )
    for etype, attrs in session.execute(stmt):
        for name in attrs:
            found.setdefault(name, set()).add(etype)
    return found


def history_of(
    session: Session,
    tenant: str,
    entity_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[NgsiEntityRevision]:
    """The entity's writes whose observation span meets [since, until), oldest first."""
    stmt = select(NgsiEntityRevision).where(
        NgsiEntityRevision.tenant == tenant, NgsiEntityRevision.entity_id == entity_id
    )
    if since is not None:
        stmt = stmt.where(NgsiEntityRevision.observed_to >= since)
    if until is not None:
        stmt = stmt.where(NgsiEntityRevision.observed_from < until)
    return list(session.scalars(stmt.order_by(NgsiEntityRevision.id).limit(limit)))
