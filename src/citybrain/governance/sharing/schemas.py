"""Request and response bodies of the sharing API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from citybrain.governance.sharing.models import Grant, ShareRequest
from citybrain.kernel.schemas import Input

Scalar = str | int | float | bool


class Condition(Input):
    """One row condition: ``column op value`` (``in`` takes a list)."""

    column: str = Field(min_length=1, max_length=200)
    op: str = Field(min_length=1, max_length=2)
    value: Scalar | list[Scalar]


class ShareRequestIn(Input):
    """A department's request for a dataset."""

    dataset: str = Field(min_length=1, max_length=100)
    fields: list[str] = Field(min_length=1, max_length=500)
    purpose: str = Field(min_length=1, max_length=40, description="a code of /sharing/purposes")
    purpose_text: str = Field("", max_length=2000)
    legal_basis: str = Field("", max_length=2000, description="required for 不予共享 data")
    term_days: int = Field(90, ge=1, le=366)
    row_filter: list[Condition] = Field(default_factory=list, max_length=20)
    mode: str = Field("records", description="records (masked rows) or sandbox (aggregates)")


class DecisionIn(Input):
    """The provider's answer: approve (optionally narrower, with masks) or reject."""

    approve: bool
    reason: str = Field("", max_length=2000)
    fields: list[str] | None = Field(None, max_length=500)
    masks: dict[str, str | dict[str, Any]] | None = Field(
        None, description="field -> MASK, SHOW_LAST_4, HASH, NULL, YEAR_ONLY, GENERALIZE, NONE"
    )
    term_days: int | None = Field(None, ge=1, le=366)
    row_filter: list[Condition] = Field(default_factory=list, max_length=20)
    accept_legal_basis: bool = False


class RevokeIn(Input):
    """Why a grant ends now."""

    reason: str = Field(min_length=1, max_length=2000)


class DestructionIn(Input):
    """How the grantee destroyed its copies (e.g. "deleted from the case system, backups
    purged")."""

    method: str = Field(min_length=1, max_length=300)


class GrantOut(BaseModel):
    """A grant as the API shows it (the HASH salt never leaves the hub)."""

    id: int
    request_id: int
    dataset: str
    provider: str
    grantee: str
    fields: list[str]
    masks: dict[str, Any]
    row_filter: list[dict[str, Any]]
    purpose: str
    purpose_text: str
    legal_basis: str
    mode: str
    status: str
    live: bool
    approved_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str


class ShareRequestOut(BaseModel):
    """A request and, once approved, its grant."""

    id: int
    dataset: str
    provider: str
    requester: str
    requested_by: str
    fields: list[str]
    purpose: str
    purpose_text: str
    legal_basis: str
    term_days: int
    row_filter: list[dict[str, Any]]
    mode: str
    status: str
    reason: str
    created_at: datetime
    sla_due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    grant: GrantOut | None = None


class PurposeOut(BaseModel):
    """A controlled purpose."""

    code: str
    zh: str
    en: str


class RecordsOut(BaseModel):
    """Masked rows read through a grant."""

    grant: int
    purpose: str
    fields: list[str]
    masks: dict[str, Any]
    items: list[dict[str, Any]]
    next_cursor: str | None = None


def grant_out(grant: Grant, now: datetime) -> GrantOut:
    """The API view of a grant."""
    return GrantOut(
        id=grant.id,
        request_id=grant.request_id,
        dataset=grant.dataset,
        provider=grant.provider,
        grantee=grant.grantee,
        fields=list(grant.fields),
        masks=dict(grant.masks),
        row_filter=list(grant.row_filter),
        purpose=grant.purpose,
        purpose_text=grant.purpose_text,
        legal_basis=grant.legal_basis,
        mode=grant.mode,
        status=grant.status,
        live=grant.status == "active" and now < grant.expires_at,
        approved_by=grant.approved_by,
        created_at=grant.created_at,
        expires_at=grant.expires_at,
        revoked_at=grant.revoked_at,
        revoked_by=grant.revoked_by,
        revoke_reason=grant.revoke_reason,
    )


def request_out(req: ShareRequest, grant: Grant | None, now: datetime) -> ShareRequestOut:
    """The API view of a request (with its grant when there is one)."""
    return ShareRequestOut(
        id=req.id,
        dataset=req.dataset,
        provider=req.provider,
        requester=req.requester,
        requested_by=req.requested_by,
        fields=list(req.fields),
        purpose=req.purpose,
        purpose_text=req.purpose_text,
        legal_basis=req.legal_basis,
        term_days=req.term_days,
        row_filter=list(req.row_filter),
        mode=req.mode,
        status=req.status,
        reason=req.reason,
        created_at=req.created_at,
        sla_due_at=req.sla_due_at,
        decided_at=req.decided_at,
        decided_by=req.decided_by,
        grant=grant_out(grant, now) if grant is not None else None,
    )
