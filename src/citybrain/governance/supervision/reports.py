"""The oversight report of one organisation over one period (Art16, issue 7 part 5): what it did
(ledger actions by type and verdict), the grants it gave and received, the findings against it
by article, its security incidents, the public reports and disputes that concern it, the risk
bulletins it was sent and how it answered, and its datasets' quality.

Periods are whole local days of the city (UTC+08:00, no daylight saving), ``since`` and
``until`` both included. Everything is read in one session; the report names the ledger range it
counted and a signed checkpoint covering it, so a reader can ask for the entries behind any
count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from citybrain.governance.disputes.models import DisputeCase
from citybrain.governance.disputes.service import effective_status
from citybrain.governance.reportdesk.models import ReportCase
from citybrain.governance.security.models import BulletinRecipient, RiskBulletin, SecurityIncident
from citybrain.governance.sharing.models import Grant
from citybrain.governance.supervision.models import Finding
from citybrain.governance.supervision.stream import fine_action
from citybrain.hub.catalogue.models import Dataset
from citybrain.hub.quality.models import DIMENSIONS, QualityScore
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.identity.models import Organisation
from citybrain.ledger.entry import ACTIONS
from citybrain.ledger.models import LedgerCheckpoint, LedgerEntry

CITY_OFFSET = timedelta(hours=8)  # 杭州: UTC+08:00 all year
TIMEZONE = "UTC+08:00"
MAX_DAYS = 366
DEFAULT_DAYS = 30
MAX_INCIDENTS = 50  # listed one by one; the counts cover all
MAX_TOP_ACTIONS = 20
FINDING_STATUSES = ("open", "acknowledged", "resolved", "dismissed")
INCIDENT_OPEN = ("open", "contained")


@dataclass(frozen=True)
class Period:
    """Local days ``since``..``until`` (both included) and the UTC instants that bound them."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        """The first instant of ``since`` (city time), in UTC."""
        return datetime.combine(self.since, time(), UTC) - CITY_OFFSET

    @property
    def end(self) -> datetime:
        """The first instant after ``until`` (city time), in UTC."""
        return datetime.combine(self.until + timedelta(days=1), time(), UTC) - CITY_OFFSET

    def holds(self, column: Any) -> ColumnElement[bool]:
        """``start <= column < end``."""
        return and_(column >= self.start, column < self.end)


def city_today(now: datetime) -> date:
    """The city's calendar day at ``now``."""
    return (now.astimezone(UTC) + CITY_OFFSET).date()


def period_of(since: date | None, until: date | None, now: datetime) -> Period:
    """The period asked for; the last 30 days to today by default. InvalidInput names the
    field when the days are reversed or the period is longer than a year."""
    until = until or city_today(now)
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise InvalidInput(f"since {since} is after until {until}", field="since")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days", field="until")
    return Period(since, until)


def organisation_of(session: Session, code: str) -> Organisation:
    """The organisation with ``code``; NotFound naming ``org`` otherwise."""
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(f"no organisation {code}", field="org")
    return org


def _head(session: Session) -> Any:
    """``purpose`` up to its first colon, in the dialect's words."""
    purpose = LedgerEntry.purpose
    if session.get_bind().dialect.name == "postgresql":
        return func.split_part(purpose, ":", 1)
    return func.substr(purpose, 1, func.instr(purpose + ":", ":") - 1)


def ledger_part(session: Session, org: str, period: Period) -> dict[str, Any]:
    """Entries of the organisation's people in the period: by category and verdict, the gate
    actions most used, the seq range and the newest checkpoint covering it."""
    e = LedgerEntry
    where = and_(e.organisation == org, period.holds(e.ts))
    count, first, last = session.execute(
        select(func.count(), func.min(e.seq), func.max(e.seq)).where(where)
    ).one()
    head = _head(session).label("head")
    by_category: dict[str, Counter[str]] = {a: Counter() for a in ACTIONS}
    by_action: dict[str, Counter[str]] = defaultdict(Counter)
    rows = session.execute(
        select(e.action, head, e.decision, func.count())
        .where(where)
        .group_by(e.action, head, e.decision)
    ).all()
    for category, purpose_head, decision, n in rows:
        by_category.setdefault(category, Counter())[decision] += n
        by_action[fine_action(f"{purpose_head}:", category)][decision] += n
    top = sorted(by_action.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    checkpoint = None
    if last is not None:
        cp = session.scalar(
            select(LedgerCheckpoint)
            .where(LedgerCheckpoint.tree_size > last)
            .order_by(LedgerCheckpoint.tree_size)
            .limit(1)
        )
        if cp is not None:
            checkpoint = {"size": cp.tree_size, "root": cp.root_hash.hex(), "ts": cp.ts}
    return {
        "ledger": {
            "entries": count,
            "first_seq": first,
            "last_seq": last,
            "checkpoint": checkpoint,
        },
        "actions": [
            {"category": c, "allow": n["allow"], "deny": n["deny"]} for c, n in by_category.items()
        ],
        "top_actions": [
            {"action": a, "allow": n["allow"], "deny": n["deny"]} for a, n in top[:MAX_TOP_ACTIONS]
        ],
    }


def _grant_counts(
    session: Session, side: Any, org: str, period: Period, at: datetime
) -> dict[str, int]:
    g = Grant
    mine = side == org

    def count(*cond: Any) -> int:
        return session.scalar(select(func.count()).where(mine, *cond)) or 0

    return {
        "approved": count(period.holds(g.created_at)),
        "live": count(g.status == "active", g.created_at < at, g.expires_at > at),
        "revoked": count(g.revoked_at.is_not(None), period.holds(g.revoked_at)),
        "expired": count(
            period.holds(g.expires_at), or_(g.revoked_at.is_(None), g.revoked_at > g.expires_at)
        ),
    }


def grants_part(session: Session, org: str, period: Period, now: datetime) -> dict[str, Any]:
    """Grants the organisation gave (as provider) and received (as grantee): approved, revoked
    and expired in the period, live at its end (or now, if the period has not ended)."""
    at = min(period.end, now)
    return {
        "as_provider": _grant_counts(session, Grant.provider, org, period, at),
        "as_grantee": _grant_counts(session, Grant.grantee, org, period, at),
    }


def findings_part(session: Session, org: str, period: Period) -> dict[str, Any]:
    """Findings against the organisation that occurred in the period, by article and status."""
    f = Finding
    rows = session.execute(
        select(f.article, f.status, f.severity, func.count())
        .where(f.organisation == org, period.holds(f.occurred_at))
        .group_by(f.article, f.status, f.severity)
    ).all()
    articles: dict[str, Counter[str]] = defaultdict(Counter)
    severities: Counter[str] = Counter()
    for article, status, severity, n in rows:
        articles[article][status] += n
        severities[severity] += n
    return {
        "total": sum(severities.values()),
        "by_article": [
            {"article": a, "total": sum(c.values()), **{s: c[s] for s in FINDING_STATUSES}}
            for a, c in sorted(articles.items(), key=lambda kv: _article_order(kv[0]))
        ],
        "by_severity": dict(sorted(severities.items())),
    }


def _article_order(article: str) -> tuple[int, int]:
    """ "23(1)" < "23(7)" < "24"."""
    main, _, item = article.partition("(")
    return (int(main) if main.isdigit() else 99, int(item.rstrip(")") or 0) if item else 0)


def incidents_part(session: Session, org: str, period: Period) -> dict[str, Any]:
    """Security incidents of the organisation that occurred in the period (Art17)."""
    i = SecurityIncident
    rows = session.scalars(
        select(i)
        .where(i.organisation == org, period.holds(i.occurred_at))
        .order_by(i.occurred_at, i.id)
    ).all()
    return {
        "total": len(rows),
        "open": sum(r.status in INCIDENT_OPEN for r in rows),
        "by_severity": dict(sorted(Counter(r.severity for r in rows).items())),
        "items": [
            {
                "id": r.id,
                "title": r.title,
                "severity": r.severity,
                "status": r.status,
                "occurred_at": r.occurred_at,
            }
            for r in rows[:MAX_INCIDENTS]
        ],
    }


def cases_part(session: Session, org: str, period: Period, now: datetime) -> dict[str, Any]:
    """Public reports about the organisation (Art16 ¶2) and data disputes it is party to (Art18)
    filed in the period, by status."""
    r = ReportCase
    reports = Counter(
        dict(
            session.execute(
                select(r.status, func.count())
                .where(r.organisation == org, period.holds(r.created_at))
                .group_by(r.status)
            ).all()
        )
    )
    d = DisputeCase
    cases = session.scalars(
        select(d).where(or_(d.claimant == org, d.respondent == org), period.holds(d.filed_at))
    ).all()
    disputes = Counter(effective_status(c, now) for c in cases)
    return {
        "report_cases": {
            "total": sum(reports.values()),
            "by_status": dict(sorted(reports.items())),
        },
        "disputes": {"total": len(cases), "by_status": dict(sorted(disputes.items()))},
    }


def bulletins_part(session: Session, org: str, period: Period, now: datetime) -> dict[str, int]:
    """Risk bulletins sent to the organisation in the period and how it acknowledged them."""
    who, b = BulletinRecipient, RiskBulletin
    rows = session.execute(
        select(who.acknowledged_at, b.ack_deadline)
        .join(b, b.id == who.bulletin_id)
        .where(who.organisation == org, period.holds(b.issued_at))
    ).all()
    return {
        "received": len(rows),
        "acknowledged": sum(ack is not None for ack, _ in rows),
        "overdue": sum(ack is None and deadline < now for ack, deadline in rows),
    }


def quality_part(session: Session, org: str, period: Period) -> dict[str, Any]:
    """The organisation's datasets' newest scores in the period, per dimension, and their mean."""
    q = QualityScore
    newest: dict[tuple[str, str], QualityScore] = {}
    for row in session.scalars(
        select(q)
        .where(q.provider == org, period.holds(q.computed_at))
        .order_by(q.computed_at, q.id)
    ):
        newest[(row.dataset, row.dimension)] = row
    per_dataset: dict[str, dict[str, Any]] = {}
    for (dataset, dimension), row in sorted(newest.items()):
        item = per_dataset.setdefault(
            dataset, {"dataset": dataset, "dimensions": {}, "computed_at": row.computed_at}
        )
        item["dimensions"][dimension] = row.score
        item["computed_at"] = max(item["computed_at"], row.computed_at)
    titles = dict(
        session.execute(
            select(Dataset.slug, Dataset.title_zh).where(Dataset.slug.in_(list(per_dataset)))
        ).all()
    )
    datasets = []
    for slug, item in per_dataset.items():
        scores = [item["dimensions"][d] for d in DIMENSIONS if d in item["dimensions"]]
        datasets.append(
            {
                "dataset": slug,
                "title": titles.get(slug, slug),
                "score": round(sum(scores) / len(scores), 1),
                "dimensions": item["dimensions"],
                "computed_at": item["computed_at"],
            }
        )
    mean = round(sum(d["score"] for d in datasets) / len(datasets), 1) if datasets else None
    return {"mean": mean, "datasets": datasets}


def build_report(session: Session, code: str, period: Period, now: datetime) -> dict[str, Any]:
    """The whole report of organisation ``code`` over ``period`` (NotFound for an unknown one)."""
    org = organisation_of(session, code)
    return {
        "organisation": {
            "code": org.code,
            "name": org.name,
            "name_en": org.name_en,
            "kind": org.kind,
        },
        "since": period.since,
        "until": period.until,
        "timezone": TIMEZONE,
        "generated_at": now,
        **ledger_part(session, code, period),
        "grants": grants_part(session, code, period, now),
        "findings": findings_part(session, code, period),
        "incidents": incidents_part(session, code, period),
        **cases_part(session, code, period, now),
        "bulletins": bulletins_part(session, code, period, now),
        "quality": quality_part(session, code, period),
    }
