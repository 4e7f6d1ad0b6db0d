"""Sharing logic (Art9): requests, decisions, grants, revocation, SLA lapse. No HTTP.

The sharing class of the dataset decides how a request is answered: 无条件共享
(``unconditional``) is granted at once, 有条件共享 (``conditional``) waits for the provider,
不予共享 (``none``) must cite a legal basis that the provider explicitly accepts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.privacy.masking import parse_mask_spec
from citybrain.governance.sharing import vocab
from citybrain.governance.sharing.lineage import effective_class
from citybrain.governance.sharing.models import Grant, ShareRequest
from citybrain.hub.catalogue.models import Dataset
from citybrain.kernel.clock import Clock, system_clock
from citybrain.kernel.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class RequestInput:
    """What a requesting department asks for."""

    dataset: str
    fields: list[str]
    purpose: str
    purpose_text: str = ""
    legal_basis: str = ""
    term_days: int = 90
    row_filter: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "records"


@dataclass(frozen=True)
class Decision:
    """A provider's answer; an approval may narrow fields, term and rows and set masks."""

    approve: bool
    reason: str = ""
    fields: list[str] | None = None
    masks: dict[str, Any] | None = None
    term_days: int | None = None
    row_filter: list[dict[str, Any]] = field(default_factory=list)
    accept_legal_basis: bool = False


def columns_of(ds: Dataset) -> list[str]:
    """The field names of a dataset's Table Schema, in order."""
    return [f["name"] for f in ds.table_schema.get("fields", [])]


def default_masks(ds: Dataset, fields: list[str]) -> dict[str, Any]:
    """Masks a grant starts with: personal information masked, sensitive information hashed."""
    flags = {f["name"]: f for f in ds.table_schema.get("fields", [])}
    masks: dict[str, Any] = {}
    for name in fields:
        meta = flags.get(name, {})
        if meta.get("sensitive_pii"):
            masks[name] = "HASH"
        elif meta.get("pii"):
            masks[name] = "MASK"
    return masks


def _check_fields(requested: list[str], known: list[str], path: str = "fields") -> list[str]:
    if not requested:
        raise InvalidInput("name at least one field", field=path)
    seen: set[str] = set()
    for i, name in enumerate(requested):
        if name not in known:
            raise InvalidInput(f"unknown field {name!r} of this dataset", field=f"{path}[{i}]")
        if name in seen:
            raise InvalidInput(f"field {name!r} named twice", field=f"{path}[{i}]")
        seen.add(name)
    return list(requested)


def _check_term(days: int, path: str = "term_days") -> int:
    if not 1 <= days <= vocab.MAX_TERM_DAYS:
        raise InvalidInput(f"a term is 1 to {vocab.MAX_TERM_DAYS} days", field=path)
    return days


def check_masks(masks: dict[str, Any], fields: list[str], salt: str) -> dict[str, Any]:
    """Masks name granted fields and parse (InvalidInput naming ``masks.FIELD`` otherwise)."""
    for name in masks:
        if name not in fields:
            raise InvalidInput(f"mask for a field not granted: {name!r}", field=f"masks.{name}")
    for name, spec in masks.items():
        try:
            parse_mask_spec({name: spec}, salt=bytes.fromhex(salt))
        except InvalidInput as exc:
            raise InvalidInput(exc.detail, field=f"masks.{name}") from exc
    return dict(masks)


def submit(
    session: Session,
    ds: Dataset,
    *,
    requester: str,
    actor: str,
    body: RequestInput,
    clock: Clock = system_clock,
) -> ShareRequest:
    """Record a request; an unconditional dataset's request is granted at once."""
    provider = ds.provider.code
    if requester == provider:
        raise Conflict("a provider reads its own data without a grant", field="dataset")
    columns = columns_of(ds)
    fields = _check_fields(body.fields, columns)
    purpose = vocab.purpose_code(body.purpose)
    if body.mode not in vocab.MODES:
        raise InvalidInput(f"mode is one of {', '.join(vocab.MODES)}", field="mode")
    row_filter = vocab.check_row_filter(body.row_filter, set(columns))
    legal_basis = body.legal_basis.strip()
    sharing = effective_class(session, ds).effective  # derived data inherits its sources' class
    if sharing == "none" and not legal_basis:
        raise InvalidInput(
            "this dataset is not shared (不予共享): cite the legal basis of the request",
            field="legal_basis",
        )
    now = clock()
    req = ShareRequest(
        dataset=ds.slug,
        provider=provider,
        requester=requester,
        requested_by=actor,
        fields=fields,
        purpose=purpose,
        purpose_text=body.purpose_text.strip(),
        legal_basis=legal_basis,
        term_days=_check_term(body.term_days),
        row_filter=row_filter,
        mode=body.mode,
        status="pending",
        reason="",
        created_at=now,
        sla_due_at=now + timedelta(days=vocab.SLA_DAYS),
    )
    session.add(req)
    session.flush()
    if sharing == "unconditional":
        _grant(session, ds, req, vocab.AUTO_APPROVER, fields, None, req.term_days, [], now)
    return req


def _grant(
    session: Session,
    ds: Dataset,
    req: ShareRequest,
    actor: str,
    fields: list[str],
    masks: dict[str, Any] | None,
    term_days: int,
    extra_filter: list[dict[str, Any]],
    now: datetime,
) -> Grant:
    salt = secrets.token_hex(32)
    grant = Grant(
        request_id=req.id,
        dataset=req.dataset,
        provider=req.provider,
        grantee=req.requester,
        fields=fields,
        masks=check_masks(default_masks(ds, fields) if masks is None else masks, fields, salt),
        row_filter=[*req.row_filter, *extra_filter],
        purpose=req.purpose,
        purpose_text=req.purpose_text,
        legal_basis=req.legal_basis,
        mode=req.mode,
        salt=salt,
        status="active",
        approved_by=actor,
        created_at=now,
        expires_at=now + timedelta(days=term_days),
        revoke_reason="",
    )
    session.add(grant)
    session.flush()
    req.status, req.decided_at, req.decided_by, req.grant_id = "approved", now, actor, grant.id
    return grant


def decide(
    session: Session,
    ds: Dataset,
    req: ShareRequest,
    *,
    actor: str,
    decision: Decision,
    clock: Clock = system_clock,
) -> ShareRequest:
    """The provider approves (possibly narrower) or rejects a pending request."""
    if req.status != "pending":
        raise Conflict(f"request {req.id} is {req.status}, not pending", field="status")
    now = clock()
    if not decision.approve:
        if not decision.reason.strip():
            raise InvalidInput("a rejection gives its reason", field="reason")
        req.status, req.reason = "rejected", decision.reason.strip()
        req.decided_at, req.decided_by = now, actor
        session.flush()
        return req
    if effective_class(session, ds).effective == "none" and not decision.accept_legal_basis:
        raise InvalidInput(
            "不予共享 data is shared only when the provider accepts the cited legal basis",
            field="accept_legal_basis",
        )
    fields = req.fields if decision.fields is None else _check_fields(decision.fields, req.fields)
    term = req.term_days if decision.term_days is None else _check_term(decision.term_days)
    if term > req.term_days:
        raise InvalidInput("an approval may shorten the term, not lengthen it", field="term_days")
    extra = vocab.check_row_filter(decision.row_filter, set(columns_of(ds)))
    req.reason = decision.reason.strip()
    _grant(session, ds, req, actor, fields, decision.masks, term, extra, now)
    return req


def revoke(
    session: Session, grant: Grant, *, actor: str, reason: str, clock: Clock = system_clock
) -> Grant:
    """End a grant now; later reads through it are refused."""
    if grant.status == "revoked":
        raise Conflict(f"grant {grant.id} is already revoked", field="status")
    if not reason.strip():
        raise InvalidInput("a revocation gives its reason", field="reason")
    grant.status, grant.revoked_at = "revoked", clock()
    grant.revoked_by, grant.revoke_reason = actor, reason.strip()
    session.flush()
    return grant


def lapse_overdue(session: Session, now: datetime) -> list[ShareRequest]:
    """Mark pending requests past their SLA as lapsed (visible to supervision)."""
    overdue = list(
        session.scalars(
            select(ShareRequest).where(
                ShareRequest.status == "pending", ShareRequest.sla_due_at <= now
            )
        )
    )
    for req in overdue:
        req.status = "lapsed"
        req.reason = f"no answer within {vocab.SLA_DAYS} days (SLA)"
    session.flush()
    return overdue


def is_live(grant: Grant, now: datetime) -> bool:
    """Active and not expired."""
    return grant.status == "active" and now < grant.expires_at


def get_request(session: Session, request_id: int) -> ShareRequest:
    """The request, or NotFound naming ``id``."""
    req = session.get(ShareRequest, request_id)
    if req is None:
        raise NotFound(f"no share request {request_id}", field="id")
    return req


def get_grant(session: Session, grant_id: int) -> Grant:
    """The grant, or NotFound naming ``id``."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(f"no grant {grant_id}", field="id")
    return grant


def use_context(
    grant: Grant, *, organisation: str, purpose: str, fields: list[str], mode: str, now: datetime
) -> dict[str, bool]:
    """The facts the policies decide a use of a grant on (Cedar context)."""
    return {
        "grant_live": is_live(grant, now),
        "grantee": organisation == grant.grantee,
        "purpose_in_grant": purpose == grant.purpose,
        "fields_in_grant": set(fields) <= set(grant.fields),
        "mode_in_grant": mode == grant.mode,
    }


def ledger_purpose(grant: Grant, purpose: str) -> str:
    """How a use of a grant is named in the ledger: the grant and the purpose."""
    text = f" — {grant.purpose_text}" if grant.purpose_text else ""
    return f"grant {grant.id} · {purpose}{text}"[:400]
