"""Provider accountability (谁提供谁负责, Art8): timeliness, completeness, accuracy and
authenticity of each catalogue dataset, scored 0–100 with the evidence behind every point lost.

Pure logic over a session, no HTTP: ``compute_round`` measures (``measure``) and scores
(``rules``, where every formula lives); ``store_round`` keeps the cards as history and keeps the
alerts: one unresolved alert per dataset and dimension until its score recovers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.hub.quality.measure import Measure, Sql, targets
from citybrain.hub.quality.models import DIMENSIONS, QualityAlert, QualityScore
from citybrain.hub.quality.rules import (
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    RULES,
    Evidence,
    Rule,
    ScoreCard,
)
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound
from citybrain.kernel.i18n import t

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW",
    "RULES",
    "Evidence",
    "RoundResult",
    "Rule",
    "ScoreCard",
    "acknowledge",
    "compute_round",
    "history",
    "latest_scores",
    "list_alerts",
    "recent_history",
    "store_round",
]


def compute_round(
    session: Session, now: datetime, *, window: timedelta = DEFAULT_WINDOW
) -> list[ScoreCard]:
    """Score every catalogue dataset in the four dimensions (four cards per dataset)."""
    if window <= timedelta(0):
        raise InvalidInput("the window must be longer than zero", field="window")
    sql = Sql(session)
    cards: list[ScoreCard] = []
    for target in targets(session, now, window):
        cards += Measure(session, sql, target, now).cards()
    return cards


# -- history and alerts ----------------------------------------------------------------------
@dataclass
class RoundResult:
    """What a stored round produced: its cards, the alerts raised and those resolved."""

    round_id: str
    computed_at: datetime
    cards: list[ScoreCard]
    raised: list[QualityAlert]
    resolved: list[QualityAlert]


def dimension_label(dimension: str, locale: str) -> str:
    """The dimension's name in ``locale``."""
    return t(f"quality.dimension.{dimension}", locale)


def store_round(
    session: Session,
    cards: Sequence[ScoreCard],
    *,
    round_id: str,
    computed_at: datetime,
    threshold: int = DEFAULT_THRESHOLD,
) -> RoundResult:
    """Keep the cards as history and update the alerts (the caller commits)."""
    if not 0 <= threshold <= 100:
        raise InvalidInput("the threshold must be between 0 and 100", field="threshold")
    session.add_all(
        QualityScore(
            round_id=round_id,
            dataset=c.dataset,
            provider=c.provider,
            dimension=c.dimension,
            score=c.score,
            evidence=c.evidence_dicts(),
            window_start=c.window_start,
            window_end=c.window_end,
            computed_at=computed_at,
        )
        for c in cards
    )
    open_ = {
        (a.dataset, a.dimension): a
        for a in session.scalars(select(QualityAlert).where(QualityAlert.resolved_at.is_(None)))
    }
    raised, resolved = [], []
    for c in cards:
        alert = open_.get((c.dataset, c.dimension))
        if c.score >= threshold and alert is not None:
            alert.resolved_at = computed_at
            resolved.append(alert)
        elif c.score < threshold and alert is None:
            messages = {loc: _alert_message(c, threshold, loc) for loc in ("zh-CN", "en")}
            alert = QualityAlert(
                round_id=round_id,
                dataset=c.dataset,
                provider=c.provider,
                dimension=c.dimension,
                score=c.score,
                threshold=threshold,
                message_zh=messages["zh-CN"],
                message_en=messages["en"],
                created_at=computed_at,
            )
            session.add(alert)
            raised.append(alert)
    session.flush()
    return RoundResult(round_id, computed_at, list(cards), raised, resolved)


def _alert_message(c: ScoreCard, threshold: int, locale: str) -> str:
    top = next((e for e in c.evidence if e.points), None)
    reason = (top.detail_zh if locale == "zh-CN" else top.detail_en) if top else ""
    return t(
        "quality.alert.message",
        locale,
        dataset=c.dataset,
        dimension=dimension_label(c.dimension, locale),
        score=c.score,
        threshold=threshold,
        reason=reason,
    )


def latest_round_id(session: Session) -> str | None:
    """The id of the newest stored round."""
    return session.scalar(select(QualityScore.round_id).order_by(QualityScore.id.desc()).limit(1))


def latest_scores(
    session: Session, org: str | None = None, dataset: str | None = None
) -> list[QualityScore]:
    """The newest round's scores (per dataset × dimension), of one provider or dataset."""
    round_id = latest_round_id(session)
    if round_id is None:
        return []
    stmt = select(QualityScore).where(QualityScore.round_id == round_id)
    if org:
        stmt = stmt.where(QualityScore.provider == org)
    if dataset:
        stmt = stmt.where(QualityScore.dataset == dataset)
    rows = session.scalars(stmt).all()
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    return sorted(rows, key=lambda r: (r.dataset, order.get(r.dimension, 9)))


def history(
    session: Session,
    dataset: str,
    dimension: str | None = None,
    since: datetime | None = None,
    *,
    rounds: int | None = None,
) -> list[QualityScore]:
    """A dataset's scores oldest first: since a time, and/or only the last ``rounds`` rounds."""
    q = QualityScore
    stmt = select(q).where(q.dataset == dataset)
    if dimension:
        stmt = stmt.where(q.dimension == dimension)
    if since is not None:
        stmt = stmt.where(q.computed_at >= since)
    if rounds is not None:
        first = _since_rounds(session, rounds, dataset)
        if first is None:
            return []
        stmt = stmt.where(q.computed_at >= first)
    return list(session.scalars(stmt.order_by(q.computed_at, q.id)))


def _since_rounds(session: Session, rounds: int, dataset: str | None = None) -> datetime | None:
    """When the oldest of the last ``rounds`` rounds ran (None before the first)."""
    q = QualityScore
    stmt = select(q.computed_at).distinct().order_by(q.computed_at.desc()).limit(max(rounds, 1))
    if dataset:
        stmt = stmt.where(q.dataset == dataset)
    stamps = session.scalars(stmt).all()
    return stamps[-1] if stamps else None


def recent_history(session: Session, rounds: int = 30) -> dict[tuple[str, str], list[int]]:
    """(dataset, dimension) → scores of the last ``rounds`` rounds, oldest first."""
    q = QualityScore
    since = _since_rounds(session, rounds)
    if since is None:
        return {}
    out: dict[tuple[str, str], list[int]] = {}
    stmt = select(q.dataset, q.dimension, q.score).where(q.computed_at >= since)
    for ds, dim, score in session.execute(stmt.order_by(q.computed_at, q.id)):
        out.setdefault((ds, dim), []).append(score)
    return out


def list_alerts(
    session: Session,
    org: str | None = None,
    dataset: str | None = None,
    *,
    open_only: bool = True,
    limit: int = 500,
) -> list[QualityAlert]:
    """Alerts newest first; open ones are neither resolved nor acknowledged."""
    a = QualityAlert
    stmt = select(a)
    if org:
        stmt = stmt.where(a.provider == org)
    if dataset:
        stmt = stmt.where(a.dataset == dataset)
    if open_only:
        stmt = stmt.where(a.resolved_at.is_(None), a.acknowledged_at.is_(None))
    return list(session.scalars(stmt.order_by(a.id.desc()).limit(limit)))


def get_alert(session: Session, alert_id: int) -> QualityAlert:
    """One alert, or NotFound naming ``id``."""
    alert = session.get(QualityAlert, alert_id)
    if alert is None:
        raise NotFound(f"no quality alert {alert_id}", field="id")
    return alert


def acknowledge(session: Session, alert_id: int, who: str, now: datetime) -> QualityAlert:
    """Mark an alert seen by ``who``; Conflict when it already was."""
    alert = get_alert(session, alert_id)
    if alert.acknowledged_at is not None:
        raise Conflict(f"alert {alert_id} was acknowledged by {alert.acknowledged_by}", field="id")
    alert.acknowledged_at, alert.acknowledged_by = now, who
    session.flush()
    return alert
