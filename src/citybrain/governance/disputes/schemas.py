"""Request and response bodies of the dispute desk, and its typed events."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from citybrain.kernel.events import Event
from citybrain.kernel.schemas import Input

SubjectType = Literal[
    "batch_rejected", "quality_score", "derived_data_ownership", "grant_terms", "other"
]
Outcome = Literal["upheld", "partly_upheld", "dismissed"]
Status = Literal["filed", "refused", "under_review", "decided", "appealed", "closed"]


class FileIn(Input):
    """A new case: the respondent, what it is about and the first claim. ``claimant`` is the
    caller's organisation (only the bureau's staff name another)."""

    respondent: str = Field(
        min_length=1, max_length=18, description="credit code (the hub: the city's bureau)"
    )
    claimant: str | None = Field(None, min_length=1, max_length=18, description="credit code")
    subject_type: SubjectType
    title: str = Field(min_length=1, max_length=200)
    claim: str = Field(min_length=1, max_length=8000)
    dataset: str | None = Field(None, min_length=1, max_length=100, description="dataset slug")


class ClaimIn(Input):
    """What a party adds to its case."""

    text: str = Field(min_length=1, max_length=8000)


class EvidenceIn(Input):
    """Exactly one record to cite: a ledger entry, a quality score or an ingest batch."""

    ledger_seq: int | None = Field(None, ge=0, le=2**62)
    quality_score_id: int | None = Field(None, ge=1, le=2**62)
    batch_id: int | None = Field(None, ge=1, le=2**62)
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _exactly_one(self) -> EvidenceIn:
        given = [
            n
            for n in ("ledger_seq", "quality_score_id", "batch_id")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of ledger_seq, quality_score_id, batch_id")
        return self

    def cited(self) -> tuple[str, int]:
        """(kind, reference) of the record cited."""
        if self.ledger_seq is not None:
            return "ledger_entry", self.ledger_seq
        if self.quality_score_id is not None:
            return "quality_score", self.quality_score_id
        assert self.batch_id is not None
        return "batch", self.batch_id


class AcceptIn(Input):
    """Accept the case for review, or refuse it as out of scope with a reason."""

    accept: bool = True
    reason: str = Field("", max_length=4000)


class DecisionIn(Input):
    """A decision (of the case or of its appeal)."""

    outcome: Outcome
    text: str = Field(min_length=1, max_length=8000)


class AppealIn(Input):
    """Why a party appeals."""

    reason: str = Field(min_length=1, max_length=8000)


class Deadlines(BaseModel):
    """Every deadline of a case (None until its starting step has happened)."""

    response_due: datetime
    evidence_due: datetime
    decision_due: datetime
    appeal_due: datetime | None
    appeal_decision_due: datetime | None


class DecisionOut(BaseModel):
    """The decision of the case."""

    outcome: str | None
    text: str
    decided_at: datetime | None
    decided_by: str | None


class AppealOut(BaseModel):
    """The appeal and its decision."""

    side: str | None
    reason: str
    appealed_at: datetime | None
    appealed_by: str | None
    outcome: str | None
    text: str | None
    decided_at: datetime | None
    decided_by: str | None


class ClaimOut(BaseModel):
    """A party's claim."""

    id: int
    side: str
    organisation: str
    author: str
    text: str
    at: datetime


class EvidenceOut(BaseModel):
    """An item of evidence (its fields travel in the evidence bundle)."""

    id: int
    kind: str
    ref: str
    ledger_seq: int | None
    sha256: str
    note: str
    side: str
    organisation: str
    added_by: str
    added_at: datetime


class TimelineOut(BaseModel):
    """One step of the case and its ledger entry."""

    kind: str
    actor: str
    organisation: str
    detail: str
    at: datetime
    request_id: str
    ledger_seq: int | None


class CaseSummary(BaseModel):
    """A case in a list."""

    id: int
    claimant: str
    respondent: str
    subject_type: str
    title: str
    dataset: str | None
    status: str
    filed_by: str
    filed_at: datetime
    deadlines: Deadlines
    next_deadline: str | None
    overdue: bool


class CaseOut(CaseSummary):
    """A case with its decisions, claims, evidence and timeline."""

    handled_by: str | None
    accepted_at: datetime | None
    refusal_reason: str | None
    decision: DecisionOut | None
    appeal: AppealOut | None
    closed_at: datetime | None
    claims: list[ClaimOut]
    evidence: list[EvidenceOut]
    timeline: list[TimelineOut]


class CaseFiled(Event):
    """A dispute case was filed (for the supervision desk and the respondent)."""

    topic: ClassVar[str] = "governance.disputes.case_filed"
    case_id: int
    claimant: str
    respondent: str
    subject_type: str
    response_due: datetime


class CaseDecided(Event):
    """A case (``stage`` first) or its appeal (``stage`` appeal) was decided."""

    topic: ClassVar[str] = "governance.disputes.case_decided"
    case_id: int
    stage: Literal["first", "appeal"]
    outcome: str
    claimant: str
    respondent: str
    decided_by: str
