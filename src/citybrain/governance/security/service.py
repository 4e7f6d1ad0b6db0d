"""Security responsibility (Art17): who answers for each organisation's data security, and the
two questions the supervision desk asks — whom to alert, and which acknowledgements are late.

Incidents are in ``incidents.py``, risk bulletins in ``bulletins.py``; no HTTP here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.security.models import BulletinRecipient, RiskBulletin, SecurityOfficer
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.identity.models import Organisation, User
from citybrain.kernel.identity.service import get_organisation

SEVERITIES = ("low", "medium", "high", "critical")
# A telephone line: digits with optional +, spaces, hyphens, brackets and an extension.
CONTACT = re.compile(r"^\+?[0-9()][0-9 ()\-]{3,38}(?:\s*(?:ext\.?|x|转)\s*[0-9]{1,6})?$")
MAX_DEPTH = 32


def _user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def _check_member(session: Session, name: str, org_code: str, field: str) -> str:
    """``name`` if it is an enabled person (not a service account) of ``org_code``."""
    user = _user(session, name)
    if user is None:
        raise InvalidInput(f"no user {name!r}", field=field)
    if user.organisation.code != org_code:
        raise InvalidInput(
            f"{name!r} belongs to organisation {user.organisation.code}, not {org_code}: "
            "a security officer is a user of the organisation",
            field=field,
        )
    if user.is_service:
        raise InvalidInput(f"{name!r} is a service account, not a person", field=field)
    if user.disabled:
        raise InvalidInput(f"{name!r} is disabled", field=field)
    return name


def check_contact(contact: str) -> str:
    """A contact line (telephone number), stripped; empty is allowed."""
    line = contact.strip()
    if line and (not CONTACT.match(line) or sum(c.isdigit() for c in line) < 5):
        raise InvalidInput(f"{contact!r} is not a telephone number", field="contact")
    return line


def name_officer(
    session: Session,
    org_code: str,
    *,
    officer: str,
    deputy: str | None,
    contact: str,
    actor: str,
    now: datetime,
) -> SecurityOfficer:
    """Name (or rename) the organisation's security officer, its deputy and contact line."""
    get_organisation(session, org_code, field="org_code")
    officer = _check_member(session, officer.strip(), org_code, "officer")
    deputy = deputy.strip() if deputy and deputy.strip() else None
    if deputy is not None:
        if deputy == officer:
            raise InvalidInput("the deputy must be another person than the officer", field="deputy")
        _check_member(session, deputy, org_code, "deputy")
    line = check_contact(contact)
    row = session.get(SecurityOfficer, org_code)
    if row is None:
        row = SecurityOfficer(organisation=org_code)
        session.add(row)
    row.officer, row.deputy, row.contact = officer, deputy, line
    row.named_by, row.named_at = actor, now
    session.flush()
    return row


def _available(session: Session, name: str | None, org_code: str) -> bool:
    """True when ``name`` is still an enabled user of ``org_code``."""
    if not name:
        return False
    user = _user(session, name)
    return user is not None and not user.disabled and user.organisation.code == org_code


def officer_of(session: Session, org_code: str) -> str | None:
    """Whom to alert about ``org_code``: its security officer's user name, or the deputy's when
    the officer is disabled or has left the organisation, else None (none named or available)."""
    row = session.get(SecurityOfficer, org_code)
    if row is None:
        return None
    for name in (row.officer, row.deputy):
        if _available(session, name, org_code):
            return name
    return None


def is_officer(session: Session, user_name: str, org_code: str) -> bool:
    """True when ``user_name`` is the named officer or deputy of ``org_code``."""
    row = session.get(SecurityOfficer, org_code)
    return row is not None and user_name in (row.officer, row.deputy)


def organisations_under(session: Session, org_code: str) -> list[str]:
    """``org_code`` and every organisation below it (breadth first)."""
    root = session.scalar(select(Organisation.id).where(Organisation.code == org_code))
    if root is None:
        return []
    codes, frontier = [org_code], [root]
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        rows = session.execute(
            select(Organisation.id, Organisation.code).where(Organisation.parent_id.in_(frontier))
        ).all()
        frontier = [r.id for r in rows]
        codes.extend(r.code for r in rows)
    return codes


@dataclass(frozen=True)
class Directory:
    """The officers named in a set of organisations, and the organisations without one."""

    officers: list[tuple[SecurityOfficer, Organisation]]
    missing: list[Organisation]


def directory(session: Session, org_codes: list[str] | None = None) -> Directory:
    """Officers of ``org_codes`` (every organisation when None), ordered by organisation code."""
    stmt = select(Organisation).order_by(Organisation.code)
    if org_codes is not None:
        stmt = stmt.where(Organisation.code.in_(org_codes))
    orgs = list(session.scalars(stmt))
    named = {
        o.organisation: o
        for o in session.scalars(
            select(SecurityOfficer).where(
                SecurityOfficer.organisation.in_([org.code for org in orgs])
            )
        )
    }
    return Directory(
        officers=[(named[org.code], org) for org in orgs if org.code in named],
        missing=[org for org in orgs if org.code not in named],
    )


@dataclass(frozen=True)
class OverdueAcknowledgement:
    """An organisation that has not acknowledged a bulletin whose deadline has passed."""

    bulletin_id: int
    organisation: str
    deadline: datetime


def overdue_acknowledgements(session: Session, now: datetime) -> list[OverdueAcknowledgement]:
    """Every (bulletin, organisation) still unacknowledged after the bulletin's deadline,
    earliest deadline first."""
    who = BulletinRecipient
    rows = session.execute(
        select(who.bulletin_id, who.organisation, RiskBulletin.ack_deadline)
        .join(RiskBulletin, RiskBulletin.id == who.bulletin_id)
        .where(who.acknowledged_at.is_(None), RiskBulletin.ack_deadline < now)
        .order_by(RiskBulletin.ack_deadline, who.bulletin_id, who.organisation)
    ).all()
    return [OverdueAcknowledgement(b, o, d) for b, o, d in rows]
