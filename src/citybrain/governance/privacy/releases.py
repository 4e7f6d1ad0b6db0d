"""k-anonymised releases of a dataset (open-data publication, issue part 5).

A release runs k-anonymity (optionally distinct l-diversity) by loss-optimal global recoding over
every record of the dataset: the columns are the Table Schema's fields, values as strings. Direct
identifiers never go out: a column that is neither a quasi-identifier (QI) nor the sensitive
column is DROPPED when the catalogue flags it as personal information (``pii`` or
``sensitive_pii``), when profiling its values finds personal information (whatever the
catalogue says), or when it is part of the primary key (a record key singles out its row). A
column whose values are direct identifiers (ID numbers, mobiles, names, ...) cannot be a QI or
the sensitive column at all: generalisation keeps original values wherever k rows share them.

The released table (columns and rows), the parameters and the report are stored together.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citybrain.governance.privacy.hierarchy import Hierarchy, from_rows, infer_hierarchy
from citybrain.governance.privacy.kanon import anonymise
from citybrain.governance.privacy.pii import PiiKind, profile_columns
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.kernel.clock import Clock
from citybrain.kernel.db import Base, UTCDateTime
from citybrain.kernel.errors import InvalidInput, NotFound

JSONDoc = JSON().with_variant(JSONB(), "postgresql")
MAX_ROWS = 200_000  # a release is computed in one request and stored as one JSON document
PROFILE_SAMPLE = 1000
DIRECT_IDENTIFIERS = frozenset(
    {
        PiiKind.ID_NUMBER,
        PiiKind.MOBILE,
        PiiKind.NAME,
        PiiKind.BANK_CARD,
        PiiKind.EMAIL,
        PiiKind.PLATE,
    }
)


class PrivacyRelease(Base):
    """One k-anonymised release: parameters, report, and the released table."""

    __tablename__ = "privacy_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    report: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    columns: Mapped[list[str]] = mapped_column(JSONDoc)
    rows: Mapped[list[list[str]]] = mapped_column(JSONDoc)


@dataclass(frozen=True)
class ReleaseParams:
    """What to release: k, the QIs, optionally a sensitive column with l, the suppression
    limit, the suppression weight (a suppressed row costs that many fully generalised rows in
    the objective, 1 to 1000), and hierarchies (``{column: [[value, level1, ..., "*"], ...]}``)
    for some QIs."""

    k: int
    qi: list[str]
    sensitive: str | None = None
    l_diversity: int | None = None
    max_suppression: float = 0.05
    suppression_weight: float = 1.0
    hierarchies: Mapping[str, Sequence[Sequence[str]]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (as stored with the release)."""
        return {
            "k": self.k,
            "qi": list(self.qi),
            "sensitive": self.sensitive,
            "l": self.l_diversity,
            "max_suppression": self.max_suppression,
            "suppression_weight": self.suppression_weight,
            "hierarchies": {c: [list(r) for r in rows] for c, rows in self.hierarchies.items()}
            if self.hierarchies
            else None,
        }


def as_text(value: Any) -> str:
    """A record value as the string k-anonymity works on (blank for missing)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _check_names(fields: list[str], params: ReleaseParams) -> None:
    for i, name in enumerate(params.qi):
        if name not in fields:
            raise InvalidInput(
                f"unknown quasi-identifier column {name!r}; the schema has: {', '.join(fields)}",
                field="qi",
                index=i,
            )
    if params.sensitive is not None and params.sensitive not in fields:
        raise InvalidInput(f"unknown sensitive column {params.sensitive!r}", field="sensitive")
    for name in params.hierarchies or {}:
        if name not in params.qi:
            raise InvalidInput(
                f"a hierarchy is given for {name!r}, which is not a quasi-identifier",
                field=f"hierarchies.{name}",
            )


def _table(session: Session, slug: str, fields: list[str]) -> dict[str, list[str]]:
    count = session.scalar(
        select(func.count()).select_from(DatasetRecord).where(DatasetRecord.dataset_id == slug)
    )
    if not count:
        raise InvalidInput(f"dataset {slug!r} has no records to release", field="dataset")
    if count > MAX_ROWS:
        raise InvalidInput(
            f"dataset {slug!r} has {count} records; a release takes at most {MAX_ROWS}",
            field="dataset",
        )
    columns: dict[str, list[str]] = {f: [] for f in fields}
    lists = [(f, columns[f]) for f in fields]
    payloads = session.scalars(
        select(DatasetRecord.payload)
        .where(DatasetRecord.dataset_id == slug)
        .order_by(DatasetRecord.id)
    )
    for payload in payloads:
        for name, values in lists:
            values.append(as_text(payload.get(name)))
    return columns


def _dropped(
    ds: Dataset, columns: Mapping[str, list[str]], params: ReleaseParams
) -> list[dict[str, str]]:
    """Columns left out of the release and why; InvalidInput for a direct identifier that was
    named as a QI or the sensitive column."""
    kept = {*params.qi, *([params.sensitive] if params.sensitive else [])}
    sample = [
        {name: values[i] for name, values in columns.items()}
        for i in range(min(PROFILE_SAMPLE, len(next(iter(columns.values())))))
    ]
    detected = {f.column: f.kind for f in profile_columns(sample) if f.flagged}
    for name in kept:
        if detected.get(name) in DIRECT_IDENTIFIERS:
            where = "sensitive" if name == params.sensitive else "qi"
            raise InvalidInput(
                f"column {name!r} holds direct identifiers ({detected[name].value}): "
                "it is never released, not even generalised",
                field=where,
            )
    pk = ds.table_schema.get("primaryKey", [])
    keys = {pk} if isinstance(pk, str) else set(pk)
    dropped: list[dict[str, str]] = []
    for field in ds.table_schema.get("fields", []):
        name = field["name"]
        if name in kept:
            continue
        if field.get("sensitive_pii"):
            dropped.append({"column": name, "reason": "catalogue:sensitive_pii"})
        elif field.get("pii"):
            dropped.append({"column": name, "reason": "catalogue:pii"})
        elif name in detected:
            dropped.append({"column": name, "reason": f"detected:{detected[name].value}"})
        elif name in keys:
            dropped.append({"column": name, "reason": "primary_key"})
    return dropped


def _hierarchies(columns: Mapping[str, list[str]], params: ReleaseParams) -> dict[str, Hierarchy]:
    given = params.hierarchies or {}
    out: dict[str, Hierarchy] = {}
    for name in params.qi:
        if name in given:
            out[name] = from_rows(name, given[name], source=f"hierarchies.{name}")
        else:
            out[name] = infer_hierarchy(name, columns[name])
    return out


def make_release(
    session: Session, ds: Dataset, params: ReleaseParams, *, actor: str, clock: Clock
) -> PrivacyRelease:
    """Anonymise the dataset's records and store the release (nothing is stored on error)."""
    fields = [f["name"] for f in ds.table_schema.get("fields", [])]
    _check_names(fields, params)
    columns = _table(session, ds.slug, fields)
    dropped = _dropped(ds, columns, params)
    gone = {d["column"] for d in dropped}
    table = {name: values for name, values in columns.items() if name not in gone}
    result = anonymise(
        table,
        params.qi,
        _hierarchies(table, params),
        params.k,
        sensitive=params.sensitive,
        l_diversity=params.l_diversity,
        max_suppression=params.max_suppression,
        suppression_weight=params.suppression_weight,
    )
    names = list(result.columns)
    release = PrivacyRelease(
        dataset=ds.slug,
        created_at=clock(),
        created_by=actor,
        params=params.to_dict(),
        report=result.report.to_dict() | {"dropped": dropped},
        columns=names,
        rows=[list(r) for r in zip(*result.columns.values(), strict=True)],
    )
    session.add(release)
    session.flush()
    return release


def get_release(session: Session, release_id: int) -> PrivacyRelease:
    """A release, or NotFound naming ``id``."""
    release = session.get(PrivacyRelease, release_id)
    if release is None:
        raise NotFound(f"no release {release_id}", field="id")
    return release


def release_summary(release: PrivacyRelease) -> dict[str, Any]:
    """A release without its rows."""
    return {
        "id": release.id,
        "dataset": release.dataset,
        "created_at": release.created_at,
        "params": release.params,
        "columns": release.columns,
        "dropped": release.report.get("dropped", []),
        "report": release.report,
    }


def release_document(release: PrivacyRelease, *, with_actor: bool) -> dict[str, Any]:
    """A release with its rows (as objects); ``created_by`` only when ``with_actor``."""
    doc = release_summary(release)
    if with_actor:
        doc["created_by"] = release.created_by
    doc["rows"] = [dict(zip(release.columns, r, strict=True)) for r in release.rows]
    return doc


def release_csv(release: PrivacyRelease) -> str:
    """The released table as CSV with a header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(release.columns)
    writer.writerows(release.rows)
    return out.getvalue()
