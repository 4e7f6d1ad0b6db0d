"""Security incidents (安全事件): registration, follow-up updates and the timeline. No HTTP.

An incident moves open → contained → closed, one step at a time; a closed incident takes no
more updates. Every change is a timeline entry (who, when, what).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from citybrain.governance.security.models import IncidentUpdate, SecurityIncident
from citybrain.governance.security.service import SEVERITIES
from citybrain.hub.catalogue.models import Dataset
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound
from citybrain.kernel.identity.service import get_organisation

STATUSES = ("open", "contained", "closed")
NEXT_STATUS = {"open": "contained", "contained": "closed"}
MAX_DATASETS = 50


@dataclass(frozen=True)
class Action:
    """An action taken: when (None: now) and what."""

    text: str
    at: datetime | None = None


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput("give a time zone (e.g. 2025-01-01T08:00:00+08:00)", field=field)
    return value


def check_severity(severity: str) -> str:
    """``severity`` if it is one of low, medium, high, critical."""
    if severity not in SEVERITIES:
        raise InvalidInput(f"{severity!r} is not one of {', '.join(SEVERITIES)}", field="severity")
    return severity


def check_datasets(session: Session, slugs: list[str]) -> list[str]:
    """The catalogue slugs, without repeats; 422 naming ``datasets`` for unknown ones."""
    wanted = list(dict.fromkeys(s.strip() for s in slugs if s.strip()))
    if len(wanted) > MAX_DATASETS:
        raise InvalidInput(f"at most {MAX_DATASETS} datasets", field="datasets")
    known = set(session.scalars(select(Dataset.slug).where(Dataset.slug.in_(wanted))))
    missing = [s for s in wanted if s not in known]
    if missing:
        raise InvalidInput(f"not in the catalogue: {', '.join(missing)}", field="datasets")
    return wanted


def _actions(actions: list[Action], *, not_before: datetime, now: datetime) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, action in enumerate(actions):
        text = action.text.strip()
        if not text:
            raise InvalidInput("say what was done", field=f"actions.{i}.text")
        at = _aware(action.at, f"actions.{i}.at") if action.at else now
        if at > now:
            raise InvalidInput("an action taken cannot lie in the future", field=f"actions.{i}.at")
        if at < not_before:
            raise InvalidInput(
                "an action cannot precede the incident it answers", field=f"actions.{i}.at"
            )
        out.append({"at": at.astimezone(UTC).isoformat(), "text": text})
    return out


def _sorted(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(actions, key=lambda a: datetime.fromisoformat(a["at"]))


def register_incident(
    session: Session,
    *,
    organisation: str,
    severity: str,
    title: str,
    description: str,
    occurred_at: datetime,
    datasets: list[str],
    actions: list[Action],
    actor: str,
    now: datetime,
) -> SecurityIncident:
    """Record an organisation's incident (status open) and its first timeline entry."""
    try:
        get_organisation(session, organisation, field="organisation")
    except NotFound as exc:
        raise InvalidInput(exc.detail, field="organisation") from None
    check_severity(severity)
    if not title.strip():
        raise InvalidInput("give the incident a title", field="title")
    occurred_at = _aware(occurred_at, "occurred_at")
    if occurred_at > now:
        raise InvalidInput("an incident cannot occur in the future", field="occurred_at")
    taken = _sorted(_actions(actions, not_before=occurred_at, now=now))
    incident = SecurityIncident(
        organisation=organisation,
        severity=severity,
        title=title.strip(),
        description=description.strip(),
        occurred_at=occurred_at,
        datasets=check_datasets(session, datasets),
        actions=taken,
        status="open",
        reported_by=actor,
        reported_at=now,
        updated_at=now,
    )
    session.add(incident)
    session.flush()
    session.add(
        IncidentUpdate(
            incident_id=incident.id,
            at=now,
            actor=actor,
            status_from=None,
            status_to="open",
            actions=taken,
            note="registered",
        )
    )
    session.flush()
    return incident


def get_incident(session: Session, incident_id: int, *, lock: bool = False) -> SecurityIncident:
    """The incident, or NotFound naming ``id``."""
    stmt = select(SecurityIncident).where(SecurityIncident.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    incident = session.scalar(stmt)
    if incident is None:
        raise NotFound(f"no security incident {incident_id}", field="id")
    return incident


def check_transition(current: str, wanted: str | None, incident_id: int = 0) -> str | None:
    """``wanted`` if the incident may move there from ``current`` (None: no change).

    Conflict when the incident is closed; InvalidInput naming ``status`` for any move but
    the next step."""
    if current == "closed":
        raise Conflict(f"incident {incident_id} is closed: no more updates", field="status")
    if wanted is None:
        return None
    if wanted not in STATUSES:
        raise InvalidInput(f"{wanted!r} is not one of {', '.join(STATUSES)}", field="status")
    if wanted == current:
        raise InvalidInput(f"the incident is already {current}", field="status")
    if NEXT_STATUS.get(current) != wanted:
        raise InvalidInput(
            f"an incident that is {current} moves to {NEXT_STATUS[current]} next, not {wanted}",
            field="status",
        )
    return wanted


def update_incident(
    session: Session,
    incident: SecurityIncident,
    *,
    status: str | None,
    actions: list[Action],
    note: str,
    actor: str,
    now: datetime,
) -> IncidentUpdate:
    """Add actions and/or move the status one step; a timeline entry records it."""
    status = check_transition(incident.status, status, incident.id)
    if status is None and not actions and not note.strip():
        raise InvalidInput("give a new status, an action taken or a note", field="status")
    added = _actions(actions, not_before=incident.occurred_at, now=now)
    entry = IncidentUpdate(
        incident_id=incident.id,
        at=now,
        actor=actor,
        status_from=incident.status if status else None,
        status_to=status,
        actions=added,
        note=note.strip(),
    )
    if added:
        incident.actions = _sorted([*incident.actions, *added])
    if status:
        incident.status = status
    incident.updated_at = now
    session.add(entry)
    session.flush()
    return entry


def timeline(session: Session, incident_id: int) -> list[IncidentUpdate]:
    """The incident's updates, oldest first."""
    return list(
        session.scalars(
            select(IncidentUpdate)
            .where(IncidentUpdate.incident_id == incident_id)
            .order_by(IncidentUpdate.id)
        )
    )


def incidents_stmt(
    organisation: str | None = None, status: str | None = None, severity: str | None = None
) -> Select[Any]:
    """Incidents of one organisation (all when None), optionally of a status and severity."""
    stmt = select(SecurityIncident)
    if organisation is not None:
        stmt = stmt.where(SecurityIncident.organisation == organisation)
    if status is not None:
        stmt = stmt.where(SecurityIncident.status == status)
    if severity is not None:
        stmt = stmt.where(SecurityIncident.severity == severity)
    return stmt
