"""Request and response bodies of the report desk."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from citybrain.governance.reportdesk import receipt
from citybrain.kernel.schemas import Input

Category = Literal[
    "illegal_collection",
    "illegal_sharing",
    "leak",
    "misuse_beyond_purpose",
    "unauthorised_access",
    "failure_to_destroy",
    "other",
]
Status = Literal["received", "triaged", "investigating", "resolved", "dismissed"]
Severity = Literal["low", "medium", "high"]
SLUG = r"^[a-z0-9][a-z0-9_-]{0,98}[a-z0-9]$"  # as the catalogue's dataset ids
MAX_TEXT = 4000
MIN_TEXT = 10
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,28}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class ReporterIn(Input):
    """Who reports (every field optional; leave all out to stay anonymous)."""

    name: str = Field("", max_length=100)
    phone: str = Field("", max_length=30)
    email: str = Field("", max_length=254)
    id_number: str = Field("", max_length=18, description="居民身份证号码")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value.strip() and not _PHONE.match(value.strip()):
            raise ValueError("not a phone number (digits, spaces, dashes, an optional +)")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value.strip() and not _EMAIL.match(value.strip()):
            raise ValueError("not an e-mail address")
        return value


class ReportIn(Input):
    """A report of an illegal collection, transmission, sharing, access or use of data."""

    category: Category
    description: str = Field(min_length=MIN_TEXT, max_length=MAX_TEXT)
    organisation: str | None = Field(
        None, max_length=18, description="credit code of the organisation concerned"
    )
    dataset: str | None = Field(None, max_length=100, pattern=SLUG, description="dataset slug")
    occurred_on: date | None = Field(None, description="when it happened")
    reporter: ReporterIn | None = Field(None, description="absent: an anonymous report")
    contact_consent: bool = Field(False, description="the bureau may contact the reporter")


class FiledOut(BaseModel):
    """The case opened; ``receipt_code`` is shown this once and never again."""

    id: int
    number: str
    receipt_code: str
    status: Status
    created_at: datetime


class ReceiptIn(Input):
    """A receipt code as the reporter typed it (case, dashes and the prefix do not matter)."""

    code: str = Field(min_length=1, max_length=receipt.MAX_INPUT)


class PublicStepOut(BaseModel):
    """A step of the case as the reporter sees it (no staff names)."""

    at: datetime
    status: Status
    text: str


class FollowOut(BaseModel):
    """What the reporter sees of their case."""

    number: str
    category: Category
    status: Status
    outcome: str
    created_at: datetime
    updated_at: datetime
    timeline: list[PublicStepOut]


class CaseSummary(BaseModel):
    """A case in a list (no description, no identity)."""

    id: int
    number: str
    category: Category
    organisation: str | None
    dataset: str | None
    status: Status
    severity: Severity | None
    assignee: str | None
    anonymous: bool
    contact_consent: bool
    created_at: datetime
    updated_at: datetime


class StepOut(BaseModel):
    """A step of the case as the staff see it."""

    at: datetime
    actor: str
    kind: str
    status: Status
    severity: Severity | None
    assignee: str | None
    public_text: str
    note: str


class CaseOut(CaseSummary):
    """One case for the staff: the report and its whole timeline (no identity)."""

    occurred_on: date | None
    description: str
    outcome: str
    timeline: list[StepOut]


class TriageIn(Input):
    """Severity and the supervisor in charge."""

    severity: Severity
    assignee: str = Field(min_length=1, max_length=100, description="a supervisor's user name")


class StatusIn(Input):
    """A move along the lifecycle."""

    status: Status = Field(description="investigating, resolved or dismissed")
    outcome: str = Field(
        "",
        max_length=MAX_TEXT,
        description="resolved: the outcome; dismissed: why (shown to the reporter)",
    )
    note: str = Field("", max_length=MAX_TEXT, description="for the staff only")


class ReporterOut(BaseModel):
    """The reporter's identity (supervisors only; every reading is ledgered)."""

    case: str
    anonymous: bool
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    id_number: str | None = None
    contact_consent: bool
