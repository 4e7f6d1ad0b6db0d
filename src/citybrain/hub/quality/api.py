"""Quality routes (``/hub/quality/...``): latest scores, a dataset's card with its evidence and
history, alerts and their acknowledgement, and running a round now. Thin: logic is in
``service``; every route passes the gate.

Lists are one gated read (``quality.list``, one ledger entry) whose rows are then narrowed per
dataset by the policy engine: ``quality.read`` (the provider's staff, operators, auditors) or,
for open-data datasets, ``quality.open`` (any signed-in account; scores without evidence).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.quality import service
from citybrain.hub.quality.models import QualityAlert, QualityScore
from citybrain.hub.quality.monitor import (
    new_round_id,
    publish_alerts,
    register_gate_actions,
)
from citybrain.kernel.errors import NotFound
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import Governed, GovernedDep
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.schemas import Input

__all__ = ["ROUTERS", "register_gate_actions", "router"]

router = APIRouter(prefix="/hub/quality", tags=["hub: quality"])
TextQuery = Annotated[str | None, Query(max_length=200)]


class EvidenceOut(BaseModel):
    """One reason points were lost, and what to look at."""

    rule: str
    points: int
    detail_zh: str
    detail_en: str
    refs: list[str]


class ScoreOut(BaseModel):
    """A dataset's score in one dimension (``evidence`` only where the caller may see it)."""

    dataset: str
    provider: str
    dimension: str
    score: int
    round_id: str
    computed_at: datetime
    window_start: datetime
    window_end: datetime
    evidence: list[EvidenceOut] | None = None


class ScoreList(BaseModel):
    """The newest round's scores the caller may see."""

    round_id: str | None
    computed_at: datetime | None
    items: list[ScoreOut]


class HistoryPoint(BaseModel):
    """One past score."""

    round_id: str
    computed_at: datetime
    dimension: str
    score: int


class DatasetQualityOut(BaseModel):
    """A dataset's latest card per dimension and its recent history."""

    dataset: str
    provider: str
    open_data: bool
    evidence_visible: bool
    dimensions: list[ScoreOut]
    history: list[HistoryPoint]


class AlertOut(BaseModel):
    """A quality alert."""

    id: int
    dataset: str
    provider: str
    dimension: str
    score: int
    threshold: int
    message_zh: str
    message_en: str
    created_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class RoundIn(Input):
    """How to score: the look-back window and the alert threshold."""

    window_hours: int = Field(24, ge=1, le=24 * 366, strict=True)
    threshold: int = Field(service.DEFAULT_THRESHOLD, ge=0, le=100, strict=True)


class RoundOut(BaseModel):
    """A round just run: its scores and the alerts it raised or resolved."""

    round_id: str
    computed_at: datetime
    datasets: int
    scores: list[ScoreOut]
    raised: list[AlertOut]
    resolved: list[int]


def score_out(row: QualityScore | service.ScoreCard, evidence: bool, **extra: Any) -> ScoreOut:
    """Response model of a stored score (or of a fresh card, given ``round_id`` and
    ``computed_at``); evidence only when ``evidence``."""
    data = {
        k: getattr(row, k) for k in ScoreOut.model_fields if k != "evidence" and hasattr(row, k)
    }
    items = None
    if evidence:
        items = row.evidence_dicts() if isinstance(row, service.ScoreCard) else row.evidence
    return ScoreOut(**data, **extra, evidence=items)


def alert_out(a: QualityAlert) -> AlertOut:
    """Response model of an alert."""
    return AlertOut.model_validate(a, from_attributes=True)


def _facts(session: Session, slugs: set[str] | None = None) -> dict[str, tuple[str, bool]]:
    """Dataset → (provider code, open data) from the catalogue."""
    stmt = select(Dataset.slug, Organisation.code, Dataset.open_data).join(
        Organisation, Organisation.id == Dataset.provider_id
    )
    if slugs is not None:
        stmt = stmt.where(Dataset.slug.in_(slugs))
    return {slug: (code, bool(is_open)) for slug, code, is_open in session.execute(stmt)}


def _may(g: Governed, session: Session, action: str, slug: str, provider: str) -> bool:
    """Whether the policy lets the caller ``action`` this dataset's quality (no ledger entry:
    the enclosing gated read is the record)."""
    context = {"open_data": True} if action == "quality.open" else None
    res = Resource("QualityDataset", slug, provider)
    return g.runtime.gate.decide(session, g.caller, action, res, context).allowed


def _visibility(g: Governed, session: Session, slugs: set[str]) -> dict[str, str]:
    """Dataset → ``full`` (scores and evidence) or ``scores``; unlisted datasets are hidden."""
    out: dict[str, str] = {}
    for slug, (provider, is_open) in _facts(session, slugs).items():
        if _may(g, session, "quality.read", slug, provider):
            out[slug] = "full"
        elif is_open and _may(g, session, "quality.open", slug, provider):
            out[slug] = "scores"
    return out


@router.get("/scores", response_model=ScoreList)
def list_scores(g: GovernedDep, org: TextQuery = None, dataset: TextQuery = None) -> ScoreList:
    """The newest round's score per dataset and dimension (no evidence), of the datasets the
    caller may see: its own organisation's, every open-data one, all for operators/auditors."""
    res = Resource("QualityScores", org or "all", org)
    with g.read("quality.list", res, purpose="latest scores") as session:
        rows = service.latest_scores(session, org=org, dataset=dataset)
        seen = _visibility(g, session, {r.dataset for r in rows})
    items = [score_out(r, evidence=False) for r in rows if r.dataset in seen]
    first = rows[0] if rows else None
    return ScoreList(
        round_id=first.round_id if first else None,
        computed_at=first.computed_at if first else None,
        items=items,
    )


@router.get("/datasets/{slug}", response_model=DatasetQualityOut)
def dataset_quality(
    g: GovernedDep,
    slug: Annotated[str, Path(max_length=100)],
    rounds: Annotated[int, Query(ge=1, le=500, description="history of the last N rounds")] = 30,
) -> DatasetQualityOut:
    """A dataset's latest card per dimension with its evidence, and the last ``rounds``
    rounds' scores. Other signed-in accounts see an open-data dataset's scores only."""
    with g.runtime.reader() as session:
        facts = _facts(session, {slug})
        if slug not in facts:
            raise NotFound(f"no dataset {slug!r} in the catalogue", field="slug")
        provider, is_open = facts[slug]
        full = _may(g, session, "quality.read", slug, provider)
    res = Resource("QualityDataset", slug, provider)
    if full or not is_open:
        ctx = g.read("quality.read", res, purpose="dataset quality")
    else:
        ctx = g.read(
            "quality.open", res, purpose="open dataset scores", context={"open_data": True}
        )
    with ctx as session:
        latest = service.latest_scores(session, dataset=slug)
        past = service.history(session, slug, rounds=rounds)
    return DatasetQualityOut(
        dataset=slug,
        provider=provider,
        open_data=is_open,
        evidence_visible=full,
        dimensions=[score_out(r, evidence=full) for r in latest],
        history=[
            HistoryPoint(
                round_id=h.round_id, computed_at=h.computed_at, dimension=h.dimension, score=h.score
            )
            for h in past
        ],
    )


@router.post("/rounds", response_model=RoundOut, status_code=201)
def run_round(g: GovernedDep, body: Annotated[RoundIn | None, Body()] = None) -> RoundOut:
    """Score every dataset now (operators), keep the round and update the alerts."""
    params = body or RoundIn()
    rt = g.runtime
    round_id, now = new_round_id(), rt.clock()
    res = Resource("QualityRound", round_id, rt.settings.city_code)
    with g.act("quality.compute", res, purpose="quality round on request") as session:
        cards = service.compute_round(session, now, window=timedelta(hours=params.window_hours))
        result = service.store_round(
            session, cards, round_id=round_id, computed_at=now, threshold=params.threshold
        )
        out = RoundOut(
            round_id=round_id,
            computed_at=now,
            datasets=len({c.dataset for c in cards}),
            scores=[score_out(c, evidence=True, round_id=round_id, computed_at=now) for c in cards],
            raised=[alert_out(a) for a in result.raised],
            resolved=[a.id for a in result.resolved],
        )
    publish_alerts(rt.bus, result.raised)
    return out


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    g: GovernedDep,
    org: TextQuery = None,
    dataset: TextQuery = None,
    open_: Annotated[
        bool, Query(alias="open", description="only unresolved, unacknowledged")
    ] = True,
) -> list[AlertOut]:
    """Alerts newest first, of the datasets whose quality the caller may read."""
    res = Resource("QualityAlerts", org or "all", org)
    with g.read("quality.list", res, purpose="alerts") as session:
        alerts = service.list_alerts(session, org=org, dataset=dataset, open_only=open_)
        seen = _visibility(g, session, {a.dataset for a in alerts})
    return [alert_out(a) for a in alerts if seen.get(a.dataset) == "full"]


@router.post("/alerts/{id}/ack", response_model=AlertOut)
def acknowledge_alert(g: GovernedDep, id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> AlertOut:
    """Acknowledge an alert (its provider's clerks, operators); 409 when already done."""
    with g.runtime.reader() as session:
        provider = service.get_alert(session, id).provider
    res = Resource("QualityAlert", str(id), provider)
    with g.act("quality.ack", res, purpose="acknowledge alert") as session:
        alert = service.acknowledge(session, id, g.caller.name, g.runtime.clock())
        return alert_out(alert)


ROUTERS = [router]
