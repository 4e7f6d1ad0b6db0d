"""Which datasets' entities a signed-in reader may see in the city's shared store (Art9).

Entities tied to a dataset that is not 无条件共享 are shown only to the provider's own staff,
to holders of a live grant on that dataset, and to the bureau's overseers (operators, auditors,
administrators). The hub knows the catalogue but not grants: governance registers the full rule
with :func:`set_hidden_datasets` when the application is assembled; without it, every
restricted dataset of another provider is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from citybrain.hub.catalogue.models import Dataset
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.identity.service import Caller

OVERSEERS = frozenset({"operator", "auditor", "admin"})
HiddenRule = Callable[[Session, Caller], tuple[str, ...]]


@dataclass(frozen=True)
class DatasetScope:
    """The datasets a reader's entities may come from: ``only`` these (None: any, entities of
    no dataset included), never ``hidden``. ``dataset in scope`` answers for one entity."""

    only: tuple[str, ...] | None = None
    hidden: tuple[str, ...] = ()

    def __contains__(self, dataset: object) -> bool:
        if self.only is not None and dataset not in self.only:
            return False
        return dataset not in self.hidden

    def clause(self, column: Any) -> ColumnElement[bool]:
        """The SQL condition on an entity's dataset column."""
        parts: list[ColumnElement[bool]] = []
        if self.only is not None:
            parts.append(column.in_(self.only) if self.only else false())
        if self.hidden:
            parts.append(or_(column.is_(None), column.not_in(self.hidden)))
        return and_(*parts) if parts else true()


def dataset_clause(datasets: tuple[str, ...] | DatasetScope | None, column: Any) -> Any:
    """SQL for a dataset restriction: None (any), a tuple (only these) or a scope."""
    if datasets is None:
        return true()
    if isinstance(datasets, DatasetScope):
        return datasets.clause(column)
    return column.in_(list(datasets)) if datasets else false()


def restricted_of_others(session: Session, organisation: str) -> tuple[str, ...]:
    """Datasets that are not 无条件共享 and are provided by another organisation."""
    rows = session.execute(
        select(Dataset.slug)
        .join(Organisation, Organisation.id == Dataset.provider_id)
        .where(Dataset.sharing != "unconditional", Organisation.code != organisation)
    )
    return tuple(sorted(r[0] for r in rows))


_rule: HiddenRule | None = None


def set_hidden_datasets(rule: HiddenRule | None) -> None:
    """Install the rule deciding hidden datasets (governance's, with grants); None resets."""
    global _rule
    _rule = rule


def hidden_datasets(session: Session, caller: Caller) -> tuple[str, ...]:
    """Datasets whose entities ``caller`` may not see in the shared store."""
    if OVERSEERS.intersection(caller.roles):
        return ()
    if _rule is not None:
        return _rule(session, caller)
    return restricted_of_others(session, caller.organisation)
