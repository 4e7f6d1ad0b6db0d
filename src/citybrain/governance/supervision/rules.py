"""Detection rules are data: a kind (a detector the code knows), its parameters, the article and
item a finding falls under, a severity and an on/off switch, stored and versioned.

The kinds are the few things the code can measure over the ledger and the governance tables;
everything a city would tune — which policies, which actions, how many in which window, how
many times an actor's own baseline, which hours are quiet, how long a grantee has to declare
destruction — is a parameter. Each kind checks its parameters with a pydantic model, so a bad
rule is refused naming the field before it is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.governance.supervision.models import SupervisionRule
from citybrain.kernel.errors import InvalidInput, NotFound

SEVERITIES = ("low", "medium", "high", "critical")
ARTICLE = re.compile(r"^23\([1-7]\)$|^24$")
# The organisation kinds Art23 names (行政机关): the detector cites the rule's Art23 item for
# them and Art24 for everyone else; the sweeps that hold only officials to a duty use it too.
OFFICIALS = ("government", "department")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeniedParams(_Params):
    """Each denied entry decided by one of ``policies`` is a finding (an attempt, blocked)."""

    policies: tuple[str, ...] = Field(min_length=1, max_length=50)
    actions: tuple[str, ...] = ()  # fine gate actions; empty: any


class VolumeParams(_Params):
    """An actor's entries of ``actions`` in one window above ``max(min_count, factor × their
    own largest window in the last history_days)``; with ``quiet_hours`` only windows starting
    in those local hours count, and the baseline is the actor's own in those hours."""

    actions: tuple[str, ...] = Field(min_length=1, max_length=50)
    window_s: int = Field(600, ge=60, le=86_400)
    min_count: int = Field(ge=2, le=1_000_000)
    factor: float = Field(3.0, ge=1.0, le=1000.0)
    history_days: int = Field(28, ge=1, le=366)
    quiet_hours: tuple[int, int] | None = None  # [start, end) local hours, may wrap midnight
    utc_offset_hours: int = Field(8, ge=-12, le=14)

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not (0 <= v[0] < 24 and 0 <= v[1] < 24 and v[0] != v[1]):
            raise ValueError("quiet_hours: two different hours in 0..23")
        return v


class NarrowQueriesParams(_Params):
    """``min_count`` sandbox queries by one actor through one grant within ``window_s``, each
    selecting at most ``max_rows`` rows: a re-identification pattern (differencing)."""

    window_s: int = Field(3600, ge=60, le=7 * 86_400)
    min_count: int = Field(20, ge=2, le=100_000)
    max_rows: int = Field(20, ge=1, le=100_000)


class LapsedParams(_Params):
    """A share request the provider let lapse (no answer within the SLA) is a finding."""


class StaleParams(_Params):
    """An unconditionally shared dataset with no batch for ``factor`` × its declared update
    frequency plus ``grace_s``."""

    factor: float = Field(2.0, ge=1.0, le=100.0)
    grace_s: int = Field(3600, ge=0, le=30 * 86_400)
    sharing: tuple[str, ...] = ("unconditional",)


class CopyParams(_Params):
    """A grant that ended (expired or revoked) ``days`` ago, was read through, and whose grantee
    has not declared the copies destroyed."""

    days: int = Field(7, ge=0, le=365)


class UntouchedParams(_Params):
    """A finding of at least ``min_severity`` left open ``days`` days: supervision not done."""

    days: int = Field(7, ge=1, le=365)
    min_severity: str = "medium"

    @field_validator("min_severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        if v not in SEVERITIES:
            raise ValueError(f"min_severity: one of {', '.join(SEVERITIES)}")
        return v


class BulletinAckParams(_Params):
    """A risk bulletin (Art17) an addressed organisation has still not acknowledged
    ``grace_s`` after its acknowledgement deadline."""

    grace_s: int = Field(0, ge=0, le=30 * 86_400)


class DisputeOverdueParams(_Params):
    """A data dispute (Art18) whose awaited step (accept, decide, decide the appeal) is
    ``grace_s`` past its deadline."""

    grace_s: int = Field(0, ge=0, le=30 * 86_400)


KINDS: dict[str, type[_Params]] = {
    "denied": DeniedParams,
    "volume": VolumeParams,
    "narrow_queries": NarrowQueriesParams,
    "lapsed_request": LapsedParams,
    "stale_dataset": StaleParams,
    "copy_not_destroyed": CopyParams,
    "finding_untouched": UntouchedParams,
    "bulletin_unacknowledged": BulletinAckParams,
    "dispute_overdue": DisputeOverdueParams,
}
READS = ("data.read", "sandbox.query", "entity.read", "citizen.export", "privacy.release.read")


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the detector uses it: the stored row's facts with parsed parameters."""

    code: str
    version: int
    kind: str
    params: Any
    article: str
    severity: str
    title_zh: str
    title_en: str


def parse_params(kind: str, params: dict[str, Any]) -> _Params:
    """The parameters of ``kind``, checked; InvalidInput naming the field otherwise."""
    model = KINDS.get(kind)
    if model is None:
        raise InvalidInput(f"unknown rule kind {kind!r}: one of {', '.join(KINDS)}", field="kind")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"params.{where}: {err['msg']}", field=f"params.{where}") from None


def check_rule(kind: str, params: dict[str, Any], article: str, severity: str) -> _Params:
    """Validate a rule's parts; returns the parsed parameters."""
    if not ARTICLE.match(article):
        raise InvalidInput("article: 23(1) .. 23(7) or 24", field="article")
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity: one of {', '.join(SEVERITIES)}", field="severity")
    return parse_params(kind, params)


# The rule set a new city starts with. Article 23 items (officials): (1) collecting, sharing,
# accessing, using not as provided; (2) disclosing personal information; (3) leaking or
# selling; (4) illegal copying or storing; (5) not sharing as provided; (6) not supervising;
# (7) other abuse. Article 24 applies instead when the actor is not an official (enterprise,
# citizen, anonymous).
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "code": "read-without-live-grant",
        "kind": "denied",
        "params": {"policies": ["sharing-no-use-without-live-grant", "sharing-grantee-only"]},
        "article": "23(1)",
        "severity": "high",
        "title_zh": "无有效授权读取共享数据",
        "title_en": "Shared data read without a live grant",
    },
    {
        "code": "purpose-outside-grant",
        "kind": "denied",
        "params": {"policies": ["sharing-purpose-within-grant", "sharing-mode-of-grant"]},
        "article": "23(1)",
        "severity": "high",
        "title_zh": "超出授权用途使用数据",
        "title_en": "Data used for a purpose outside the grant",
    },
    {
        "code": "fields-outside-grant",
        "kind": "denied",
        "params": {"policies": ["sharing-fields-within-grant"]},
        "article": "23(1)",
        "severity": "medium",
        "title_zh": "读取授权范围外的字段",
        "title_en": "Fields outside the grant requested",
    },
    {
        "code": "bulk-read",
        "kind": "volume",
        "params": {"actions": list(READS), "window_s": 600, "min_count": 300, "factor": 4.0},
        "article": "23(3)",
        "severity": "high",
        "title_zh": "批量导出：读取量远超本人基线",
        "title_en": "Bulk export: reads far above the actor's own baseline",
    },
    {
        "code": "off-hours-read",
        "kind": "volume",
        "params": {
            "actions": list(READS),
            "window_s": 600,
            "min_count": 20,
            "factor": 3.0,
            "quiet_hours": [0, 6],
        },
        "article": "23(3)",
        "severity": "high",
        "title_zh": "非工作时段集中读取",
        "title_en": "Off-hours spike of reads",
    },
    {
        "code": "narrow-sandbox-queries",
        "kind": "narrow_queries",
        "params": {"window_s": 3600, "min_count": 20, "max_rows": 20},
        "article": "23(2)",
        "severity": "high",
        "title_zh": "大量窄口径沙箱查询（疑似再识别）",
        "title_en": "Many narrow sandbox queries (re-identification pattern)",
    },
    {
        "code": "copy-not-destroyed",
        "kind": "copy_not_destroyed",
        "params": {"days": 7},
        "article": "23(4)",
        "severity": "high",
        "title_zh": "授权终止后未声明销毁数据副本",
        "title_en": "Copies not declared destroyed after the grant ended",
    },
    {
        "code": "unconditional-not-refreshed",
        "kind": "stale_dataset",
        "params": {"factor": 2.0, "grace_s": 3600},
        "article": "23(1)",
        "severity": "medium",
        "title_zh": "无条件共享数据未按声明频率更新",
        "title_en": "Unconditionally shared dataset not refreshed at its declared frequency",
    },
    {
        "code": "request-unanswered",
        "kind": "lapsed_request",
        "params": {},
        "article": "23(5)",
        "severity": "medium",
        "title_zh": "共享申请超期未答复",
        "title_en": "Share request left unanswered past its SLA",
    },
    {
        "code": "finding-untouched",
        "kind": "finding_untouched",
        "params": {"days": 7, "min_severity": "medium"},
        "article": "23(6)",
        "severity": "medium",
        "title_zh": "监管发现逾期未处理",
        "title_en": "Finding left untouched by supervisors",
    },
    {
        "code": "bulletin-unacknowledged",
        "kind": "bulletin_unacknowledged",
        "params": {"grace_s": 0},
        "article": "23(6)",
        "severity": "medium",
        "title_zh": "风险通报逾期未确认",
        "title_en": "Risk bulletin not acknowledged by its deadline",
    },
    {
        "code": "dispute-overdue",
        "kind": "dispute_overdue",
        "params": {"grace_s": 0},
        "article": "23(7)",
        "severity": "medium",
        "title_zh": "数据纠纷处理逾期",
        "title_en": "Data dispute step overdue",
    },
)


def ensure_default_rules(session: Session, now: datetime) -> int:
    """Store each default rule whose code has never been stored; returns how many."""
    known = set(session.scalars(select(SupervisionRule.code).distinct()))
    added = 0
    for rule in DEFAULT_RULES:
        if rule["code"] in known:
            continue
        check_rule(rule["kind"], rule["params"], rule["article"], rule["severity"])
        session.add(
            SupervisionRule(version=1, enabled=True, created_at=now, created_by="citybrain", **rule)
        )
        added += 1
    session.flush()
    return added


def current_rules(session: Session) -> list[SupervisionRule]:
    """The newest version of every rule, enabled or not, by code."""
    newest = (
        select(SupervisionRule.code, func.max(SupervisionRule.version).label("v"))
        .group_by(SupervisionRule.code)
        .subquery()
    )
    stmt = (
        select(SupervisionRule)
        .join(
            newest,
            (SupervisionRule.code == newest.c.code) & (SupervisionRule.version == newest.c.v),
        )
        .order_by(SupervisionRule.code)
    )
    return list(session.scalars(stmt))


def active_specs(session: Session) -> list[RuleSpec]:
    """The rules in force (newest version, enabled), parameters parsed."""
    return [
        RuleSpec(
            r.code,
            r.version,
            r.kind,
            parse_params(r.kind, r.params),
            r.article,
            r.severity,
            r.title_zh,
            r.title_en,
        )
        for r in current_rules(session)
        if r.enabled
    ]


def change_rule(
    session: Session, code: str, changes: dict[str, Any], *, actor: str, now: datetime
) -> SupervisionRule:
    """A new version of rule ``code`` with ``changes`` (params, article, severity, enabled,
    titles, note) applied; the old versions stay, for findings that cite them."""
    rows = [r for r in current_rules(session) if r.code == code]
    if not rows:
        raise NotFound(f"no rule {code!r}", field="code")
    old = rows[0]
    fields = {
        "kind": old.kind,
        "params": old.params,
        "article": old.article,
        "severity": old.severity,
        "enabled": old.enabled,
        "title_zh": old.title_zh,
        "title_en": old.title_en,
        "note": "",
    }
    fields |= {k: v for k, v in changes.items() if v is not None}
    check_rule(fields["kind"], fields["params"], fields["article"], fields["severity"])
    row = SupervisionRule(
        code=code, version=old.version + 1, created_at=now, created_by=actor, **fields
    )
    session.add(row)
    session.flush()
    return row


def create_rule(
    session: Session, fields: dict[str, Any], *, actor: str, now: datetime
) -> SupervisionRule:
    """A new rule (version 1); Conflict-free: an existing code is refused naming ``code``."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,59}", fields.get("code", "")):
        raise InvalidInput("code: 2-60 lowercase letters, digits and dashes", field="code")
    if session.scalar(select(SupervisionRule.id).where(SupervisionRule.code == fields["code"])):
        raise InvalidInput(f"rule {fields['code']!r} exists: change it instead", field="code")
    check_rule(fields["kind"], fields["params"], fields["article"], fields["severity"])
    row = SupervisionRule(version=1, created_at=now, created_by=actor, **fields)
    session.add(row)
    session.flush()
    return row
