"""Request and response bodies of the security routes, and the events they publish."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, Field

from citybrain.kernel.events import Event
from citybrain.kernel.schemas import Input

Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "contained", "closed"]


class IncidentRegistered(Event):
    """An organisation's security incident was registered (for the supervision desk)."""

    topic: ClassVar[str] = "governance.security.incident_registered"
    incident_id: int
    organisation: str
    severity: str
    title: str
    datasets: list[str]
    occurred_at: datetime
    officer: str | None = None  # whom to alert (officer, else deputy), as of registration


class BulletinIssued(Event):
    """The bureau issued a risk bulletin to organisations."""

    topic: ClassVar[str] = "governance.security.bulletin_issued"
    bulletin_id: int
    severity: str
    title_zh: str
    title_en: str
    audience: str
    organisations: list[str]
    ack_deadline: datetime


class OfficerIn(Input):
    """The organisation's security officer (a user of it), an optional deputy, a contact line."""

    officer: str = Field(min_length=1, max_length=100, description="安全责任人 (user name)")
    deputy: str | None = Field(None, max_length=100, description="deputy (user name)")
    contact: str = Field("", max_length=100, description="telephone line")


class OfficerOut(BaseModel):
    """An organisation's named officer; ``acting`` is whom alerts go to now (None: nobody)."""

    organisation: str
    organisation_name: str
    officer: str
    deputy: str | None
    contact: str
    acting: str | None
    named_by: str
    named_at: datetime


class OrganisationRef(BaseModel):
    """An organisation by code and name."""

    code: str
    name: str


class OfficersOut(BaseModel):
    """The officers named in the caller's view, and the organisations that have none."""

    officers: list[OfficerOut]
    missing: list[OrganisationRef]


class ActionIn(Input):
    """An action taken; ``at`` defaults to now."""

    at: AwareDatetime | None = None
    text: str = Field(min_length=1, max_length=2000)


class ActionOut(BaseModel):
    """An action taken."""

    at: datetime
    text: str


class IncidentIn(Input):
    """A security incident; ``organisation`` defaults to the caller's."""

    organisation: str | None = Field(None, max_length=18)
    severity: Severity
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=20000)
    occurred_at: AwareDatetime
    datasets: list[str] = Field(default_factory=list, max_length=50, description="catalogue ids")
    actions: list[ActionIn] = Field(default_factory=list, max_length=50)


class IncidentUpdateIn(Input):
    """A follow-up: a new status (one step on), actions taken, a note — at least one."""

    status: Status | None = None
    actions: list[ActionIn] = Field(default_factory=list, max_length=50)
    note: str = Field("", max_length=4000)


class TimelineEntryOut(BaseModel):
    """One update of an incident."""

    at: datetime
    actor: str
    status_from: str | None
    status_to: str | None
    actions: list[ActionOut]
    note: str


class IncidentSummary(BaseModel):
    """An incident in a list."""

    id: int
    organisation: str
    severity: str
    title: str
    status: str
    occurred_at: datetime
    datasets: list[str]
    reported_by: str
    reported_at: datetime
    updated_at: datetime


class IncidentOut(IncidentSummary):
    """An incident with its description, actions taken and timeline."""

    description: str
    actions: list[ActionOut]
    timeline: list[TimelineEntryOut]


class BulletinIn(Input):
    """A risk bulletin to all organisations or chosen ones, to acknowledge by a deadline."""

    title_zh: str = Field(min_length=1, max_length=300)
    title_en: str = Field("", max_length=300)
    body_zh: str = Field(min_length=1, max_length=20000)
    body_en: str = Field("", max_length=20000)
    severity: Severity
    audience: Literal["all", "chosen"] = "all"
    organisations: list[str] = Field(default_factory=list, max_length=1000)
    ack_deadline: AwareDatetime


class AckCountsOut(BaseModel):
    """Acknowledgement counts (the bureau's view)."""

    addressed: int
    acknowledged: int
    outstanding: int
    overdue: int


class OwnAckOut(BaseModel):
    """The caller's organisation's acknowledgement of a bulletin."""

    organisation: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    overdue: bool


class AckOut(BaseModel):
    """An acknowledgement; ``late`` when it came after the deadline."""

    organisation: str
    acknowledged_at: datetime
    acknowledged_by: str
    late: bool


class BulletinSummary(BaseModel):
    """A bulletin in a list: counts for the bureau, the own acknowledgement for addressees."""

    id: int
    title_zh: str
    title_en: str
    severity: str
    audience: str
    ack_deadline: datetime
    issued_by: str
    issued_at: datetime
    counts: AckCountsOut | None = None
    own: OwnAckOut | None = None


class BulletinOut(BulletinSummary):
    """A bulletin; for the bureau also who acknowledged when, who is outstanding, overdue."""

    body_zh: str
    body_en: str
    acknowledged: list[AckOut] | None = None
    outstanding: list[str] | None = None
    overdue: list[str] | None = None
