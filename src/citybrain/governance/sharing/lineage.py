"""Derived data (lineage): a dataset made from others records its sources, and its sharing is
at least as strict as its strictest source's unless its provider relaxes it with a reason.

Strictness: 无条件共享 (unconditional) < 有条件共享 (conditional) < 不予共享 (none). The
*effective* class of a dataset is the stricter of its own and its sources' (recursively), or
its own when a relaxation with a reason is on record; requests are answered by the effective
class.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.catalogue.service import get_dataset
from citybrain.hub.catalogue.vocab import SHARING
from citybrain.kernel.db import Base, UTCDateTime
from citybrain.kernel.errors import InvalidInput

STRICTNESS = {name: rank for rank, name in enumerate(SHARING)}  # unconditional=0 … none=2
MAX_DEPTH = 16


class LineageLink(Base):
    """``dataset`` is derived (in part) from ``source``."""

    __tablename__ = "dataset_lineage"

    dataset: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SharingRelaxation(Base):
    """The provider shares a derived dataset more openly than its sources, and says why."""

    __tablename__ = "sharing_relaxations"

    dataset: Mapped[str] = mapped_column(String(100), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    relaxed_by: Mapped[str] = mapped_column(String(200))
    relaxed_at: Mapped[datetime] = mapped_column(UTCDateTime())


def stricter(a: str, b: str) -> str:
    """The stricter of two sharing classes."""
    return a if STRICTNESS[a] >= STRICTNESS[b] else b


def sources_of(session: Session, dataset: str) -> list[str]:
    """Direct sources of ``dataset``, sorted."""
    return sorted(session.scalars(select(LineageLink.source).where(LineageLink.dataset == dataset)))


def inherited_class(session: Session, dataset: str) -> tuple[str | None, str | None]:
    """The strictest class among all (transitive) sources and the source that sets it."""
    best: tuple[str | None, str | None] = (None, None)
    seen: set[str] = set()
    frontier = sources_of(session, dataset)
    depth = 0
    while frontier and depth < MAX_DEPTH:
        nxt: list[str] = []
        for slug in frontier:
            if slug in seen:
                continue
            seen.add(slug)
            ds = session.scalar(select(Dataset).where(Dataset.slug == slug))
            if ds is None:
                continue
            if best[0] is None or STRICTNESS[ds.sharing] > STRICTNESS[best[0]]:
                best = (ds.sharing, slug)
            nxt += sources_of(session, slug)
        frontier, depth = nxt, depth + 1
    return best


@dataclass(frozen=True)
class Effective:
    """A dataset's sharing class in force and why."""

    dataset: str
    declared: str
    inherited: str | None
    inherited_from: str | None
    relaxed: str | None  # the reason, when the provider relaxed it
    effective: str


def effective_class(session: Session, ds: Dataset) -> Effective:
    """The class requests for ``ds`` are answered by."""
    inherited, source = inherited_class(session, ds.slug)
    relaxation = session.get(SharingRelaxation, ds.slug)
    effective = ds.sharing
    if inherited is not None and relaxation is None:
        effective = stricter(ds.sharing, inherited)
    return Effective(
        dataset=ds.slug,
        declared=ds.sharing,
        inherited=inherited,
        inherited_from=source,
        relaxed=relaxation.reason if relaxation else None,
        effective=effective,
    )


def record_lineage(
    session: Session,
    ds: Dataset,
    sources: list[str],
    *,
    actor: str,
    relax_reason: str,
    now: datetime,
) -> Effective:
    """Replace ``ds``'s sources. A declared class looser than the sources' needs a reason,
    which is kept as the relaxation (an empty reason removes an earlier relaxation)."""
    if not sources:
        raise InvalidInput("name at least one source dataset", field="sources")
    for i, slug in enumerate(sources):
        if slug == ds.slug:
            raise InvalidInput("a dataset is not its own source", field=f"sources[{i}]")
        get_dataset(session, slug)  # NotFound names the id
        if slug in sources[:i]:
            raise InvalidInput(f"source {slug!r} named twice", field=f"sources[{i}]")
    session.execute(delete(LineageLink).where(LineageLink.dataset == ds.slug))
    for slug in sources:
        session.add(LineageLink(dataset=ds.slug, source=slug, recorded_by=actor, recorded_at=now))
    session.flush()
    inherited, source = inherited_class(session, ds.slug)
    if ds.slug in _ancestors(session, ds.slug):
        raise InvalidInput(
            "these sources would make the dataset derive from itself", field="sources"
        )
    session.execute(delete(SharingRelaxation).where(SharingRelaxation.dataset == ds.slug))
    if inherited is not None and STRICTNESS[ds.sharing] < STRICTNESS[inherited]:
        if not relax_reason.strip():
            raise InvalidInput(
                f"source {source!r} is {inherited}; a derived dataset shared as {ds.sharing} "
                "needs the reason it may be shared more openly",
                field="relax_reason",
            )
        session.add(
            SharingRelaxation(
                dataset=ds.slug, reason=relax_reason.strip(), relaxed_by=actor, relaxed_at=now
            )
        )
    session.flush()
    return effective_class(session, ds)


def _ancestors(session: Session, dataset: str) -> set[str]:
    seen: set[str] = set()
    frontier = sources_of(session, dataset)
    while frontier and len(seen) < 10_000:
        slug = frontier.pop()
        if slug not in seen:
            seen.add(slug)
            frontier += sources_of(session, slug)
    return seen
