"""Citizens: registration with a checked resident ID number, the uses of their records, their
objections.

The ID number is never stored: a keyed hash (HMAC-SHA256 with the hub's subject key) links a
citizen account to the records whose ``subject`` field holds the same number. Verification here
is the number's GB 11643 checksum, birth date and region; a deployment connects the city's
identity platform (Art12) to verify that the person holds it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.citizen.models import CitizenSubject, Objection, SubjectKey, SubjectUse
from citybrain.governance.privacy.pii import check_id_number
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound
from citybrain.kernel.identity import service as identity
from citybrain.ledger.models import LedgerEntry

CITIZEN_POST = "citizen"
VERIFIED_BY = "checksum"  # GB 11643 check digit, birth date, region code


def subject_key(session: Session) -> bytes:
    """The hub's subject key (created on first use; one per database)."""
    row = session.get(SubjectKey, 1)
    if row is None:
        row = SubjectKey(id=1, key_hex=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return bytes.fromhex(row.key_hex)


def subject_of(key: bytes, id_number: str) -> str:
    """The keyed hash standing for a resident ID number."""
    normal = id_number.strip().upper()
    return hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()


def register(
    session: Session,
    *,
    name: str,
    display_name: str,
    id_number: str,
    password: str,
    city_code: str,
    now: datetime,
) -> CitizenSubject:
    """A citizen account under the city, holding the citizen post, linked to its ID number."""
    number = check_id_number(id_number, "id_number")
    subject = subject_of(subject_key(session), number)
    if session.scalar(select(CitizenSubject).where(CitizenSubject.subject == subject)):
        raise Conflict("this ID number already has an account", field="id_number")
    try:
        identity.get_post(session, city_code, CITIZEN_POST)
    except NotFound:
        identity.create_post(
            session, organisation_code=city_code, name=CITIZEN_POST, role="citizen"
        )
    identity.create_user(
        session,
        name=name,
        organisation_code=city_code,
        posts=[CITIZEN_POST],
        password=password,
        display_name=display_name,
    )
    link = CitizenSubject(user_name=name, subject=subject, verified_at=now, method=VERIFIED_BY)
    session.add(link)
    session.flush()
    return link


def record_uses(
    session: Session,
    id_numbers: Iterable[Any],
    *,
    request_id: str,
    dataset: str,
    organisation: str,
    actor: str,
    action: str,
    purpose: str,
    now: datetime,
    grant_id: int | None = None,
) -> int:
    """Link one governed action to the subjects of the records it touched; returns how many."""
    key = subject_key(session)
    subjects = {subject_of(key, n) for n in id_numbers if isinstance(n, str) and n.strip()}
    session.add_all(
        SubjectUse(
            subject=s,
            request_id=request_id,
            dataset=dataset,
            organisation=organisation,
            actor=actor,
            action=action,
            grant_id=grant_id,
            purpose=purpose[:2000],
            at=now,
        )
        for s in sorted(subjects)
    )
    session.flush()
    return len(subjects)


def subject_for(session: Session, user_name: str) -> str:
    """The subject hash of a citizen account (NotFound for accounts without one)."""
    link = session.get(CitizenSubject, user_name)
    if link is None:
        raise NotFound("this account has no verified ID number", field="user")
    return link.subject


def uses(session: Session, user_name: str) -> list[dict[str, Any]]:
    """Every recorded use of the citizen's records, newest first, with its ledger entry."""
    subject = subject_for(session, user_name)
    rows = session.execute(
        select(SubjectUse, LedgerEntry.seq)
        .join(LedgerEntry, LedgerEntry.request_id == SubjectUse.request_id, isouter=True)
        .where(SubjectUse.subject == subject)
        .order_by(SubjectUse.at.desc(), SubjectUse.id.desc())
    ).all()
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for use, seq in rows:
        if use.id in seen:  # one use, however many entries share its request id
            continue
        seen.add(use.id)
        out.append(
            {
                "id": use.id,
                "at": use.at,
                "organisation": use.organisation,
                "actor": use.actor,
                "action": use.action,
                "dataset": use.dataset,
                "grant": use.grant_id,
                "purpose": use.purpose,
                "ledger_seq": seq,
                "request_id": use.request_id,
            }
        )
    return out


CSV_COLUMNS = ("at", "organisation", "actor", "action", "dataset", "grant", "purpose", "ledger_seq")


def uses_csv(rows: list[dict[str, Any]]) -> str:
    """The uses as CSV (UTF-8 with BOM so that spreadsheet programs read Chinese)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r["at"].isoformat() if k == "at" else ("" if r[k] is None else r[k])
                for k in CSV_COLUMNS
            ]
        )
    return "\ufeff" + buf.getvalue()


def object_to(session: Session, user_name: str, use_id: int, text: str, now: datetime) -> Objection:
    """Open an objection case about one of the citizen's own uses."""
    if not text.strip():
        raise InvalidInput("say what you object to", field="text")
    use = session.get(SubjectUse, use_id)
    if use is None or use.subject != subject_for(session, user_name):
        raise NotFound(f"no use {use_id} of your records", field="use_id")
    case = Objection(
        user_name=user_name, use_id=use_id, text=text.strip(), status="open", created_at=now
    )
    session.add(case)
    session.flush()
    return case


def objections(session: Session, user_name: str) -> list[Objection]:
    """The citizen's objections, newest first."""
    return list(
        session.scalars(
            select(Objection).where(Objection.user_name == user_name).order_by(Objection.id.desc())
        )
    )
