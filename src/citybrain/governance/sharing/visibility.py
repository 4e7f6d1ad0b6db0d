"""The shared entity store's view of grants: entities of a restricted dataset (not 无条件共享,
directly or through its sources) stay hidden from another organisation's readers unless that
organisation holds a live ``records`` grant on the dataset (Art9: every read checks a grant)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.sharing.lineage import LineageLink, effective_class
from citybrain.governance.sharing.models import Grant
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.entities.visibility import restricted_of_others
from citybrain.kernel.identity.service import Caller


def hidden_with_grants(session: Session, caller: Caller, now: datetime) -> tuple[str, ...]:
    """Restricted datasets of other providers that ``caller``'s organisation has no live
    records grant for."""
    org = caller.organisation
    restricted = set(restricted_of_others(session, org))
    derived = session.scalars(
        select(Dataset).where(
            Dataset.slug.in_(select(LineageLink.dataset).distinct()),
            Dataset.sharing == "unconditional",
        )
    )
    for ds in derived:
        if ds.provider.code != org and effective_class(session, ds).effective != "unconditional":
            restricted.add(ds.slug)
    if not restricted:
        return ()
    granted = set(
        session.scalars(
            select(Grant.dataset).where(
                Grant.grantee == org,
                Grant.status == "active",
                Grant.mode == "records",
                Grant.expires_at > now,
            )
        )
    )
    return tuple(sorted(restricted - granted))


def grant_rule(clock: Callable[[], datetime]) -> Callable[[Session, Caller], tuple[str, ...]]:
    """The rule to install in the hub (``set_hidden_datasets``), on ``clock``'s time."""
    return lambda session, caller: hidden_with_grants(session, caller, clock())
