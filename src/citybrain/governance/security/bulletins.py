"""Risk bulletins (风险通报): the bureau tells organisations of a risk, each addressed one
acknowledges it by a deadline. No HTTP.

A bulletin to all organisations is addressed to every organisation existing when it is issued,
except the issuing one; organisations created later are not on the hook for its deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from citybrain.governance.security.incidents import check_severity
from citybrain.governance.security.models import BulletinRecipient, RiskBulletin
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.identity.models import Organisation

AUDIENCES = ("all", "chosen")
MAX_CHOSEN = 1000


@dataclass(frozen=True)
class BulletinText:
    """What a bulletin says, in Chinese and (optionally) English."""

    title_zh: str
    body_zh: str
    title_en: str = ""
    body_en: str = ""


def _addressees(
    session: Session, audience: str, organisations: list[str], issuer_org: str
) -> list[str]:
    if audience not in AUDIENCES:
        raise InvalidInput(f"{audience!r} is not one of {', '.join(AUDIENCES)}", field="audience")
    if audience == "all":
        if organisations:
            raise InvalidInput(
                "a bulletin to all organisations names none; use audience 'chosen'",
                field="organisations",
            )
        codes = list(
            session.scalars(
                select(Organisation.code)
                .where(Organisation.code != issuer_org)
                .order_by(Organisation.code)
            )
        )
        if not codes:
            raise InvalidInput("there is no other organisation to address", field="audience")
        return codes
    chosen = list(dict.fromkeys(c.strip() for c in organisations if c.strip()))
    if not chosen:
        raise InvalidInput("name the organisations addressed", field="organisations")
    if len(chosen) > MAX_CHOSEN:
        raise InvalidInput(f"at most {MAX_CHOSEN} organisations", field="organisations")
    known = set(session.scalars(select(Organisation.code).where(Organisation.code.in_(chosen))))
    missing = [c for c in chosen if c not in known]
    if missing:
        raise InvalidInput(f"no organisation {', '.join(missing)}", field="organisations")
    return chosen


def issue_bulletin(
    session: Session,
    text: BulletinText,
    *,
    severity: str,
    audience: str,
    organisations: list[str],
    ack_deadline: datetime,
    actor: str,
    actor_org: str,
    now: datetime,
) -> tuple[RiskBulletin, list[str]]:
    """Issue a bulletin; returns it and the organisations it is addressed to."""
    check_severity(severity)
    for field in ("title_zh", "body_zh"):
        if not getattr(text, field).strip():
            raise InvalidInput("required in Chinese", field=field)
    if ack_deadline.tzinfo is None:
        raise InvalidInput("give a time zone", field="ack_deadline")
    if ack_deadline <= now:
        raise InvalidInput("the acknowledgement deadline must lie ahead", field="ack_deadline")
    addressed = _addressees(session, audience, organisations, actor_org)
    bulletin = RiskBulletin(
        title_zh=text.title_zh.strip(),
        title_en=text.title_en.strip(),
        body_zh=text.body_zh.strip(),
        body_en=text.body_en.strip(),
        severity=severity,
        audience=audience,
        ack_deadline=ack_deadline,
        issued_by=actor,
        issuer_organisation=actor_org,
        issued_at=now,
    )
    session.add(bulletin)
    session.flush()
    session.add_all(BulletinRecipient(bulletin_id=bulletin.id, organisation=c) for c in addressed)
    session.flush()
    return bulletin, addressed


def get_bulletin(session: Session, bulletin_id: int) -> RiskBulletin:
    """The bulletin, or NotFound naming ``id``."""
    bulletin = session.get(RiskBulletin, bulletin_id)
    if bulletin is None:
        raise NotFound(f"no risk bulletin {bulletin_id}", field="id")
    return bulletin


def recipient(session: Session, bulletin_id: int, org_code: str) -> BulletinRecipient | None:
    """The organisation's place on the bulletin's list (None: not addressed)."""
    return session.get(BulletinRecipient, (bulletin_id, org_code))


def acknowledge(
    session: Session, bulletin_id: int, org_code: str, *, actor: str, now: datetime
) -> BulletinRecipient:
    """Record the organisation's acknowledgement; a repeat keeps the first time and person."""
    session.execute(
        update(BulletinRecipient)
        .where(
            BulletinRecipient.bulletin_id == bulletin_id,
            BulletinRecipient.organisation == org_code,
            BulletinRecipient.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=now, acknowledged_by=actor)
        .execution_options(synchronize_session=False)
    )
    row = recipient(session, bulletin_id, org_code)
    if row is None:
        raise NotFound(f"risk bulletin {bulletin_id} is not addressed to {org_code}", field="id")
    session.refresh(row)
    return row


@dataclass(frozen=True)
class AckStatus:
    """Who acknowledged a bulletin (and when), who is outstanding, who of those is overdue."""

    acknowledged: list[BulletinRecipient]
    outstanding: list[str]
    overdue: list[str]


def ack_status(session: Session, bulletin: RiskBulletin, now: datetime) -> AckStatus:
    """The bulletin's acknowledgements as of ``now``."""
    rows = list(
        session.scalars(
            select(BulletinRecipient)
            .where(BulletinRecipient.bulletin_id == bulletin.id)
            .order_by(BulletinRecipient.organisation)
        )
    )
    done = sorted(
        (r for r in rows if r.acknowledged_at is not None),
        key=lambda r: (r.acknowledged_at, r.organisation),
    )
    outstanding = [r.organisation for r in rows if r.acknowledged_at is None]
    overdue = outstanding if now > bulletin.ack_deadline else []
    return AckStatus(done, outstanding, list(overdue))


@dataclass(frozen=True)
class AckCounts:
    """How many organisations a bulletin addresses, acknowledged, outstanding, overdue."""

    addressed: int
    acknowledged: int
    outstanding: int
    overdue: int


def ack_counts(
    session: Session, bulletins: Iterable[RiskBulletin], now: datetime
) -> dict[int, AckCounts]:
    """Counts per bulletin id for a page of bulletins."""
    by_id = {b.id: b for b in bulletins}
    rows = session.execute(
        select(
            BulletinRecipient.bulletin_id,
            func.count(),
            func.count(BulletinRecipient.acknowledged_at),
        )
        .where(BulletinRecipient.bulletin_id.in_(list(by_id)))
        .group_by(BulletinRecipient.bulletin_id)
    ).all()
    out = {i: AckCounts(0, 0, 0, 0) for i in by_id}
    for bulletin_id, total, done in rows:
        late = now > by_id[bulletin_id].ack_deadline
        out[bulletin_id] = AckCounts(total, done, total - done, total - done if late else 0)
    return out


def bulletins_stmt(organisation: str | None = None, severity: str | None = None) -> Select[Any]:
    """Bulletins addressed to ``organisation`` (every bulletin when None)."""
    stmt = select(RiskBulletin)
    if organisation is not None:
        stmt = stmt.join(
            BulletinRecipient,
            (BulletinRecipient.bulletin_id == RiskBulletin.id)
            & (BulletinRecipient.organisation == organisation),
        )
    if severity is not None:
        stmt = stmt.where(RiskBulletin.severity == severity)
    return stmt
