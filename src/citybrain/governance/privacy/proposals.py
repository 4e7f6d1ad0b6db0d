"""Personal information found, not assumed: profile a dataset's records, store what was found as
a proposal, and let the provider confirm (or override) the catalogue's flags and grade.

A proposal lists, per column with a finding, the kind of personal information, the share of
sampled values that matched, the proposed mask, the reason (zh-CN and en) and the flag it
proposes: ``sensitive_pii`` for resident ID numbers, bank cards and plates (whereabouts),
``pii`` for the other kinds, none for a column only its name hints at (for a person to check).
Confirming writes the flags into the catalogue's Table Schema through the catalogue's own update
path, so the dataset's version goes up and every catalogue rule (no personal information in
open data) applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from citybrain.governance.privacy.pii import ColumnFinding, PiiKind, profile_columns, propose_grade
from citybrain.hub.catalogue import service as catalogue
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.schemas import DatasetBody
from citybrain.hub.ingest.models import DatasetRecord
from citybrain.kernel.clock import Clock
from citybrain.kernel.db import Base, UTCDateTime
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.i18n import LOCALES

JSONDoc = JSON().with_variant(JSONB(), "postgresql")
SAMPLE = 1000  # most recent records profiled
TRIGGERS = ("upload", "manual")
FLAGS = ("pii", "sensitive_pii", "none")
SENSITIVE_KINDS = frozenset({PiiKind.ID_NUMBER, PiiKind.BANK_CARD, PiiKind.PLATE})


class PrivacyProposal(Base):
    """What profiling found in one dataset at one time, and whether the provider confirmed it."""

    __tablename__ = "privacy_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trigger: Mapped[str] = mapped_column(String(10))
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    proposed_grade: Mapped[str] = mapped_column(String(20))
    current_grade: Mapped[str] = mapped_column(String(20))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


def schema_fields(ds: Dataset) -> list[dict[str, Any]]:
    """The dataset's Table Schema fields."""
    return list(ds.table_schema.get("fields", []))


def catalogue_flag(field: Mapping[str, Any]) -> str:
    """How the catalogue flags a field: ``sensitive_pii``, ``pii`` or ``none``."""
    if field.get("sensitive_pii"):
        return "sensitive_pii"
    return "pii" if field.get("pii") else "none"


def proposed_flag(finding: ColumnFinding) -> str | None:
    """The flag a finding proposes (None: only the column name hints, a person decides)."""
    if not finding.flagged:
        return None
    return "sensitive_pii" if finding.kind in SENSITIVE_KINDS else "pii"


def recent_rows(
    session: Session, slug: str, columns: list[str], sample: int = SAMPLE
) -> list[dict[str, Any]]:
    """The ``sample`` most recently updated records of a dataset, limited to ``columns``."""
    payloads = session.scalars(
        select(DatasetRecord.payload)
        .where(DatasetRecord.dataset_id == slug)
        .order_by(DatasetRecord.updated_at.desc(), DatasetRecord.id.desc())
        .limit(sample)
    )
    return [{c: p.get(c) for c in columns} for p in payloads]


def finding_doc(finding: ColumnFinding) -> dict[str, Any]:
    """A finding as stored: the detector's view, the reason in every locale, the flag."""
    doc = finding.as_dict()
    doc["reason"] = {locale: finding.message(locale) for locale in LOCALES}
    doc["proposed_flag"] = proposed_flag(finding)
    return doc


def profile_dataset(
    session: Session, ds: Dataset, *, trigger: str, clock: Clock, sample: int = SAMPLE
) -> PrivacyProposal:
    """Profile the dataset's most recent records and store the proposal."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    columns = [f["name"] for f in schema_fields(ds)]
    findings = profile_columns(recent_rows(session, ds.slug, columns, sample), sample)
    proposal = PrivacyProposal(
        dataset=ds.slug,
        created_at=clock(),
        trigger=trigger,
        findings=[finding_doc(f) for f in findings],
        proposed_grade=propose_grade(findings),
        current_grade=ds.grade,
    )
    session.add(proposal)
    session.flush()
    return proposal


def latest_proposal(session: Session, slug: str) -> PrivacyProposal | None:
    """The most recent proposal for a dataset."""
    return session.scalar(
        select(PrivacyProposal)
        .where(PrivacyProposal.dataset == slug)
        .order_by(PrivacyProposal.id.desc())
        .limit(1)
    )


def proposal_view(proposal: PrivacyProposal, ds: Dataset) -> dict[str, Any]:
    """The proposal against the catalogue as it is now: every schema column with its catalogue
    flag, the flag proposed (None: no evidence either way) and the finding behind it."""
    found = {f["column"]: f for f in proposal.findings}
    columns = []
    for field in schema_fields(ds):
        finding = found.get(field["name"])
        proposed = finding["proposed_flag"] if finding else None
        current = catalogue_flag(field)
        columns.append(
            {
                "column": field["name"],
                "catalogue": {
                    "pii": bool(field.get("pii")),
                    "sensitive_pii": bool(field.get("sensitive_pii")),
                },
                "catalogue_flag": current,
                "proposed_flag": proposed,
                "differs": proposed is not None and proposed != current,
                "finding": finding,
            }
        )
    return {
        "id": proposal.id,
        "dataset": proposal.dataset,
        "created_at": proposal.created_at,
        "trigger": proposal.trigger,
        "columns": columns,
        "proposed_flags": {
            f["column"]: f["proposed_flag"] for f in proposal.findings if f["proposed_flag"]
        },
        "proposed_grade": proposal.proposed_grade,
        "current_grade": ds.grade,
        "grade_at_profiling": proposal.current_grade,
        "confirmed_at": proposal.confirmed_at,
        "confirmed_by": proposal.confirmed_by,
    }


def _flagged(field: dict[str, Any], flag: str) -> dict[str, Any]:
    out = {k: v for k, v in field.items() if k not in ("pii", "sensitive_pii")}
    if flag in ("pii", "sensitive_pii"):
        out["pii"] = True
    if flag == "sensitive_pii":
        out["sensitive_pii"] = True
    return out


def check_flags(ds: Dataset, columns: Mapping[str, str]) -> None:
    """InvalidInput naming ``columns.<name>`` for an unknown column or flag."""
    known = {f["name"]: f for f in schema_fields(ds)}
    for name, flag in columns.items():
        if name not in known:
            raise InvalidInput(
                f"dataset {ds.slug!r} has no column {name!r}", field=f"columns.{name}"
            )
        if flag not in FLAGS:
            raise InvalidInput(
                f"flag {flag!r} is not one of {', '.join(FLAGS)}", field=f"columns.{name}"
            )
        if flag == "none" and known[name].get("subject"):
            raise InvalidInput(
                f"column {name!r} holds the data subject's ID number (subject): it is personal "
                "information",
                field=f"columns.{name}",
            )


def body_of(ds: Dataset, **changes: Any) -> DatasetBody:
    """The dataset's current metadata as a catalogue update body, with ``changes``."""
    values: dict[str, Any] = {
        "title_zh": ds.title_zh,
        "title_en": ds.title_en,
        "description_zh": ds.description_zh,
        "description_en": ds.description_en,
        "provider_code": ds.provider.code,
        "theme": ds.theme,
        "keywords_zh": list(ds.keywords_zh),
        "keywords_en": list(ds.keywords_en),
        "update_frequency": ds.update_frequency,
        "table_schema": ds.table_schema,
        "grade": ds.grade,
        "sharing": ds.sharing,
        "legal_basis": ds.legal_basis,
        "open_data": ds.open_data,
    }
    values.update(changes)
    return DatasetBody(**values)


def confirm(
    session: Session,
    slug: str,
    columns: Mapping[str, str],
    grade: str | None,
    *,
    actor: str,
    clock: Clock,
) -> tuple[Dataset, PrivacyProposal | None]:
    """Set the columns' flags (and the grade) in the catalogue; mark the latest proposal
    confirmed. The catalogue's own update validates (422 naming the field) and versions it."""
    ds = catalogue.get_dataset(session, slug, lock=True)
    check_flags(ds, columns)
    schema = dict(ds.table_schema)
    schema["fields"] = [
        _flagged(f, columns[f["name"]]) if f["name"] in columns else dict(f)
        for f in schema_fields(ds)
    ]
    changes: dict[str, Any] = {"table_schema": schema}
    if grade is not None:
        changes["grade"] = grade
    ds = catalogue.update_dataset(session, slug, body_of(ds, **changes), actor, clock)
    proposal = latest_proposal(session, slug)
    if proposal is not None:
        proposal.confirmed_at = clock()
        proposal.confirmed_by = actor
        session.flush()
    return ds, proposal


def get_dataset(session: Session, slug: str) -> Dataset:
    """The catalogued dataset, or NotFound naming ``dataset``."""
    try:
        return catalogue.get_dataset(session, slug)
    except NotFound as exc:
        raise NotFound(exc.detail, field="dataset") from exc
