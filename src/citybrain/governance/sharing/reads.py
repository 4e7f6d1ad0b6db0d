"""Reading a dataset's records through a grant: its rows, its fields, its masks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.privacy.masking import parse_mask_spec
from citybrain.governance.sharing.models import Grant
from citybrain.governance.sharing.rows import compile_filter
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.tableschema import subject_field
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.kernel.db import PerDatabase

SHOW = "NONE"  # the mask kind that shows a granted field as it is


# Subject field per (dataset, metadata version), per database: a schema only changes with a
# new version, so a read looks it up once per version.
_SUBJECTS: PerDatabase[dict[tuple[str, int], str | None]] = PerDatabase(dict)


def dataset_subject(session: Session, slug: str, version: int | None) -> str | None:
    """The field naming the data subject in ``slug``'s schema at ``version`` (None: none)."""
    if version is None:
        return None
    cache = _SUBJECTS.of(session.get_bind())
    key = (slug, version)
    if key not in cache:
        schema = session.scalar(
            select(Dataset.table_schema).where(Dataset.slug == slug, Dataset.version == version)
        )
        if schema is None:  # changed meanwhile: answer without caching
            return subject_field(
                session.scalar(select(Dataset.table_schema).where(Dataset.slug == slug)) or {}
            )
        if len(cache) >= 10_000:
            cache.clear()
        cache[key] = subject_field(schema)
    return cache[key]


def mask_spec(grant: Grant, fields: list[str]) -> dict[str, Any]:
    """Mask per requested field: the grant's mask, or shown as is."""
    return {name: grant.masks.get(name, SHOW) for name in fields}


def read_records(
    session: Session,
    grant: Grant,
    fields: list[str],
    *,
    after: int,
    limit: int,
    subjects: list[Any] | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` masked rows (only ``fields``) after record id ``after``, in id order,
    and the id to continue after (None at the end). Rows outside the grant's filter are
    skipped without being returned. ``subjects``, when given as ``[field_name]``, is filled
    with the raw values of that field of the rows returned (the citizens they concern)."""
    plan = parse_mask_spec(mask_spec(grant, fields), salt=bytes.fromhex(grant.salt))
    keep = compile_filter(grant.row_filter)
    out: list[dict[str, Any]] = []
    cursor = after
    chunk = limit if keep is None else max(limit, 200)  # a filter may skip rows
    while len(out) < limit:
        batch = session.execute(
            select(DatasetRecord.id, DatasetRecord.payload)
            .where(DatasetRecord.dataset_id == grant.dataset, DatasetRecord.id > cursor)
            .order_by(DatasetRecord.id)
            .limit(chunk)
        ).all()
        if not batch:
            return _finish(plan, out, subjects), None
        for rid, payload in batch:
            cursor = rid
            if keep is None or keep(payload):
                out.append(payload)
                if len(out) == limit:
                    break
        if len(batch) < chunk and len(out) < limit:
            return _finish(plan, out, subjects), None
    return _finish(plan, out, subjects), cursor


def _finish(plan: Any, rows: list[dict[str, Any]], subjects: list[Any] | None) -> list[Any]:
    if subjects:
        name = subjects.pop()
        subjects.extend(row.get(name) for row in rows)
    return plan.apply_rows(rows)
