"""Rules evaluated on each ledger entry as it is read (the streamed part of detection).

Each evaluator sees entries in ledger order and returns ``Hit``s: a rule, the key that makes
the finding unique, whom it concerns, what was measured and the entries it rests on. State that
must survive a restart (per-actor window counts, reads per grant) is written by the detector
in the same transaction as the cursor, so a crash neither loses nor doubles a finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from citybrain.governance.privacy.budget import SandboxQueryLog
from citybrain.governance.sharing.models import ShareRequest
from citybrain.governance.supervision.models import ActorWindow, Finding, GrantUse
from citybrain.governance.supervision.rules import RuleSpec
from citybrain.ledger.entry import to_utc

MAX_WINDOWS = 10_000  # actors' open windows kept in memory per rule
CHUNK = 500  # keys per IN (...) list
MAX_EVIDENCE = 200  # entries stored per finding (the count says how many there were)
GRANT_IN_PURPOSE = re.compile(r"^(?:data\.read|sandbox\.query): grant (\d+) ")


@dataclass(frozen=True, slots=True)
class Entry:
    """The fields of a ledger entry detection reads (``fine`` is the gate action)."""

    seq: int
    ts: datetime
    actor: str
    organisation: str
    category: str
    fine: str
    resource: str
    purpose: str
    decision: str
    policy_ids: tuple[str, ...]


@dataclass
class Hit:
    """What a rule found: merged into the finding with the same (rule, key)."""

    rule: RuleSpec
    key: str
    actor: str
    organisation: str
    resource: str
    facts: dict[str, Any]
    seqs: list[int]
    occurred_at: datetime
    count: int = 1


def fine_action(purpose: str, category: str) -> str:
    """The gate action an entry was recorded for (its purpose starts ``action: ...``)."""
    head = purpose.split(":", 1)[0] if ":" in purpose else purpose
    return head if head and " " not in head else category


def grant_of(purpose: str) -> int | None:
    """The grant a read or sandbox query went through, from its ledger purpose."""
    m = GRANT_IN_PURPOSE.match(purpose)
    return int(m.group(1)) if m else None


def iso(ts: datetime) -> str:
    """A stable text form of a time, for keys and facts."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_start(ts: datetime, window_s: int) -> datetime:
    """The start of the fixed window ``ts`` falls in (epoch-aligned)."""
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, UTC)


class Evaluator:
    """A rule evaluated on entries. ``flush`` runs once per batch, inside the transaction."""

    def __init__(self, rule: RuleSpec) -> None:
        self.rule = rule

    def observe(self, entry: Entry) -> list[Hit]:
        """Hits this entry completes (most entries: none)."""
        return []

    def flush(self, session: Session) -> list[Hit]:
        """Hits that need the database, and state to persist; called once per batch."""
        return []


class Denied(Evaluator):
    """Every denial decided by one of the rule's policies is a finding of its own."""

    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.policies = frozenset(rule.params.policies)
        self.actions = frozenset(rule.params.actions)

    def observe(self, entry: Entry) -> list[Hit]:
        """A finding when the denial's policies are the rule's."""
        if entry.decision != "deny":
            return []
        names = {p.split("@", 1)[0] for p in entry.policy_ids}  # "name@v2": any version
        if self.policies.isdisjoint(names):
            return []
        if self.actions and entry.fine not in self.actions:
            return []
        facts = {
            "action": entry.fine,
            "policies": sorted(self.policies.intersection(names)),
            "purpose": entry.purpose[:200],
        }
        return [
            Hit(
                self.rule,
                f"seq:{entry.seq}",
                entry.actor,
                entry.organisation,
                entry.resource,
                facts,
                [entry.seq],
                entry.ts,
            )
        ]


@dataclass
class _Window:
    start: datetime
    count: int = 0
    seqs: list[int] = field(default_factory=list)
    threshold: int | None = None
    baseline: int = 0
    fired: bool = False
    dirty: bool = False
    stored: bool = False  # a row for this window exists in supervision_actor_windows
    organisation: str = ""
    resources: set[str] = field(default_factory=set)


class Volume(Evaluator):
    """Allowed entries of the rule's actions per actor per window, against the actor's own
    largest window of the last ``history_days`` (in the quiet hours only, for a quiet-hours
    rule): a finding when the count reaches ``max(min_count, factor × baseline)``."""

    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        p = rule.params
        self.p = p
        self.actions = frozenset(p.actions)
        self.windows: dict[str, _Window] = {}
        self.offset = timedelta(hours=p.utc_offset_hours)

    def _quiet(self, start: datetime) -> bool:
        if self.p.quiet_hours is None:
            return True
        hour = (start + self.offset).hour
        lo, hi = self.p.quiet_hours
        return lo <= hour < hi if lo < hi else hour >= lo or hour < hi

    def observe(self, entry: Entry) -> list[Hit]:
        """Count an allowed read in the actor's current window."""
        if entry.decision != "allow" or entry.fine not in self.actions:
            return []
        start = window_start(entry.ts, self.p.window_s)
        if not self._quiet(start):
            return []
        w = self.windows.get(entry.actor)
        if w is None or w.start != start:
            w = self.windows[entry.actor] = _Window(start, organisation=entry.organisation)
        w.count += 1
        w.dirty = True
        if len(w.seqs) < MAX_EVIDENCE:
            w.seqs.append(entry.seq)
        if len(w.resources) < 20:
            w.resources.add(entry.resource)
        return []

    def _load(self, session: Session, fresh: list[tuple[str, _Window]]) -> None:
        """For windows first flushed here: add what a previous process stored for them, and
        take each actor's baseline from its stored windows (one query per chunk of actors)."""
        history = timedelta(days=self.p.history_days)
        for i in range(0, len(fresh), CHUNK):
            part = fresh[i : i + CHUNK]
            rows = session.execute(
                select(ActorWindow.actor, ActorWindow.window_start, ActorWindow.count).where(
                    ActorWindow.rule_code == self.rule.code,
                    ActorWindow.actor.in_([a for a, _ in part]),
                    ActorWindow.window_start >= min(w.start for _, w in part) - history,
                    ActorWindow.window_start <= max(w.start for _, w in part),
                )
            ).all()
            stored: dict[str, list[tuple[datetime, int]]] = {}
            for actor, start, count in rows:
                stored.setdefault(actor, []).append((to_utc(start), count))
            for actor, w in part:
                mine = stored.get(actor, [])
                w.count += sum(c for s, c in mine if s == w.start)
                w.stored = any(s == w.start for s, _ in mine)
                since = w.start - history
                w.baseline = max(
                    (c for s, c in mine if since <= s < w.start and self._quiet(s)), default=0
                )
                w.threshold = max(self.p.min_count, int(self.p.factor * w.baseline) + 1)

    def flush(self, session: Session) -> list[Hit]:
        """Store the windows' counts (one statement for the new, one for the changed); a
        finding for each window at or over its threshold."""
        dirty = [(actor, w) for actor, w in self.windows.items() if w.dirty]
        if not dirty:
            return []
        self._load(session, [(a, w) for a, w in dirty if w.threshold is None])
        rows = {False: [], True: []}  # stored yet? → rows to write
        for actor, w in dirty:
            w.dirty = False
            rows[w.stored].append(
                {
                    "rule_code": self.rule.code,
                    "actor": actor,
                    "window_start": w.start,
                    "count": w.count,
                }
            )
            w.stored = True
        if rows[False]:
            session.execute(insert(ActorWindow), rows[False])
        if rows[True]:
            session.execute(update(ActorWindow), rows[True])
        hits = []
        for actor, w in dirty:
            if w.count >= (w.threshold or 0):
                w.fired = True
                facts = {
                    "count": w.count,
                    "threshold": w.threshold,
                    "baseline": w.baseline,
                    "window_s": self.p.window_s,
                    "window_start": iso(w.start),
                    "resources": sorted(w.resources),
                }
                resource = next(iter(w.resources)) if len(w.resources) == 1 else "*"
                hits.append(
                    Hit(
                        self.rule,
                        f"{actor}@{iso(w.start)}",
                        actor,
                        w.organisation,
                        resource,
                        facts,
                        list(w.seqs),
                        w.start,
                        w.count,
                    )
                )
        if len(self.windows) > MAX_WINDOWS:  # counts are stored: a window reloads its own
            self.windows.clear()
        return hits


class NarrowQueries(Evaluator):
    """Sandbox queries per (actor, grant) per window; when there are ``min_count`` of them, the
    sandbox log says how many selected at most ``max_rows`` rows."""

    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.p = rule.params
        self.counts: dict[tuple[str, int], _Window] = {}

    def observe(self, entry: Entry) -> list[Hit]:
        """Count a sandbox query in its (actor, grant) window."""
        if entry.decision != "allow" or entry.fine != "sandbox.query":
            return []
        grant = grant_of(entry.purpose)
        if grant is None:
            return []
        start = window_start(entry.ts, self.p.window_s)
        w = self.counts.get((entry.actor, grant))
        if w is None or w.start != start:
            w = self.counts[(entry.actor, grant)] = _Window(start, organisation=entry.organisation)
        w.count += 1
        w.dirty = True
        w.resources.add(entry.resource)
        if len(w.seqs) < MAX_EVIDENCE:
            w.seqs.append(entry.seq)
        return []

    def flush(self, session: Session) -> list[Hit]:
        """A finding for each window with enough narrow queries (from the sandbox log)."""
        hits = []
        for (actor, grant), w in list(self.counts.items()):
            if not w.dirty or w.count < self.p.min_count:
                continue
            w.dirty = False
            end = w.start + timedelta(seconds=self.p.window_s)
            narrow = session.scalar(
                select(func.count(SandboxQueryLog.id)).where(
                    SandboxQueryLog.actor == actor,
                    SandboxQueryLog.grant_id == grant,
                    SandboxQueryLog.at >= w.start,
                    SandboxQueryLog.at < end,
                    SandboxQueryLog.rows_selected <= self.p.max_rows,
                )
            )
            if (narrow or 0) >= self.p.min_count:
                facts = {
                    "queries": w.count,
                    "narrow": int(narrow or 0),
                    "max_rows": self.p.max_rows,
                    "grant": grant,
                    "window_start": iso(w.start),
                }
                hits.append(
                    Hit(
                        self.rule,
                        f"{actor}:grant{grant}@{iso(w.start)}",
                        actor,
                        w.organisation,
                        next(iter(w.resources)),
                        facts,
                        list(w.seqs),
                        w.start,
                        w.count,
                    )
                )
        if len(self.counts) > 10_000:
            self.counts = {k: w for k, w in self.counts.items() if w.dirty}
        return hits


class LapsedRequests(Evaluator):
    """On each SLA sweep entry (``share.lapse``), one finding per lapsed request, against its
    provider."""

    def __init__(self, rule: RuleSpec) -> None:
        super().__init__(rule)
        self.pending: list[Entry] = []

    def observe(self, entry: Entry) -> list[Hit]:
        """Note an SLA sweep entry."""
        if entry.fine == "share.lapse" and entry.decision == "allow":
            self.pending.append(entry)
        return []

    def flush(self, session: Session) -> list[Hit]:
        """A finding per lapsed request not yet found."""
        if not self.pending:
            return []
        last = self.pending[-1]
        self.pending = []
        known = set(session.scalars(select(Finding.key).where(Finding.rule_code == self.rule.code)))
        rows = session.scalars(
            select(ShareRequest).where(
                ShareRequest.status == "lapsed", ShareRequest.sla_due_at <= last.ts
            )
        )
        hits = []
        for req in rows:
            key = f"request:{req.id}"
            if key in known:
                continue
            facts = {
                "request": req.id,
                "dataset": req.dataset,
                "requester": req.requester,
                "sla_due_at": iso(req.sla_due_at),
            }
            hits.append(
                Hit(
                    self.rule,
                    key,
                    req.provider,
                    req.provider,
                    f"ShareRequest/{req.id}",
                    facts,
                    [last.seq],
                    last.ts,
                )
            )
        return hits


class GrantUses:
    """Not a rule: reads through each grant and the grantee's destruction declaration, kept for
    the ``copy_not_destroyed`` sweep."""

    def __init__(self) -> None:
        self.reads: dict[int, tuple[str, int, int, int]] = {}  # grant → (org, n, first, last)
        self.destroyed: dict[int, int] = {}

    def observe(self, entry: Entry) -> None:
        """Count an allowed read, or note a destruction declaration."""
        if entry.decision != "allow":
            return
        if entry.fine == "data.read":
            grant = grant_of(entry.purpose)
            if grant is not None:
                org, n, first, _ = self.reads.get(grant, (entry.organisation, 0, entry.seq, 0))
                self.reads[grant] = (org, n + 1, first, entry.seq)
        elif entry.fine == "share.destroy" and entry.resource.startswith("Grant/"):
            tail = entry.resource.removeprefix("Grant/")
            if tail.isdigit():
                self.destroyed[int(tail)] = entry.seq

    def flush(self, session: Session) -> None:
        """Add this batch's counts to the stored ones (the rows read in one query)."""
        grants = sorted(set(self.reads) | set(self.destroyed))
        rows: dict[int, GrantUse] = {}
        for i in range(0, len(grants), CHUNK):
            rows.update(
                (r.grant_id, r)
                for r in session.scalars(
                    select(GrantUse).where(GrantUse.grant_id.in_(grants[i : i + CHUNK]))
                )
            )
        for grant, (org, n, first, last) in self.reads.items():
            row = rows.get(grant)
            if row is None:
                row = rows[grant] = GrantUse(
                    grant_id=grant, organisation=org, reads=n, first_seq=first, last_seq=last
                )
                session.add(row)
            else:
                row.reads += n
                row.last_seq = max(row.last_seq, last)
                if not row.organisation:  # declared destroyed before any read was counted
                    row.organisation = org
        for grant, seq in self.destroyed.items():
            row = rows.get(grant)
            if row is None:
                session.add(
                    GrantUse(
                        grant_id=grant,
                        organisation="",
                        reads=0,
                        first_seq=seq,
                        last_seq=seq,
                        destroyed_seq=seq,
                    )
                )
            else:
                row.destroyed_seq = seq
        self.reads.clear()
        self.destroyed.clear()


STREAM_KINDS: dict[str, type[Evaluator]] = {
    "denied": Denied,
    "volume": Volume,
    "narrow_queries": NarrowQueries,
    "lapsed_request": LapsedRequests,
}
