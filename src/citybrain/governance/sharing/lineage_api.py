"""Lineage routes: ``/sharing/lineage/{dataset}`` — which datasets one is derived from, and the
sharing class in force because of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from citybrain.governance.sharing import lineage
from citybrain.hub.catalogue.service import dataset_resource, get_dataset
from citybrain.kernel.http import GovernedDep
from citybrain.kernel.schemas import Input

router = APIRouter(tags=["sharing"])


class LineageIn(Input):
    """The datasets this one is derived from, and why it may be shared more openly than they
    are (required only when it is)."""

    sources: list[str] = Field(min_length=1, max_length=50)
    relax_reason: str = Field("", max_length=2000)


class LineageOut(BaseModel):
    """A dataset's sources and its sharing class in force."""

    dataset: str
    sources: list[str]
    declared: str
    inherited: str | None
    inherited_from: str | None
    relaxed: str | None
    effective: str


def _out(session: Any, eff: lineage.Effective) -> LineageOut:
    return LineageOut(
        dataset=eff.dataset,
        sources=lineage.sources_of(session, eff.dataset),
        declared=eff.declared,
        inherited=eff.inherited,
        inherited_from=eff.inherited_from,
        relaxed=eff.relaxed,
        effective=eff.effective,
    )


@router.put("/sharing/lineage/{dataset}", response_model=LineageOut)
def set_lineage(dataset: str, body: LineageIn, g: GovernedDep) -> LineageOut:
    """Record what a dataset is derived from (its provider or an operator). Shared more openly
    than its strictest source only with a reason, which is kept and shown."""
    res = dataset_resource(g.runtime.reader, dataset)
    purpose = f"derived from {', '.join(body.sources)}"[:400]
    with g.act("lineage.write", res, purpose=purpose) as session:
        eff = lineage.record_lineage(
            session,
            get_dataset(session, dataset),
            body.sources,
            actor=g.caller.name,
            relax_reason=body.relax_reason,
            now=g.runtime.clock(),
        )
        return _out(session, eff)


@router.get("/sharing/lineage/{dataset}", response_model=LineageOut)
def get_lineage(dataset: str, g: GovernedDep) -> LineageOut:
    """A dataset's sources and the sharing class requests for it are answered by."""
    with g.read("share.list", dataset_resource(g.runtime.reader, dataset)) as session:
        return _out(session, lineage.effective_class(session, get_dataset(session, dataset)))
