"""The detector: tails the ledger in order, runs the rules in force, and records findings.

Each step reads the entries after its cursor, feeds them to the streamed rules, and in ONE
transaction stores the findings (merged by rule and key), the rules' running state and the new
cursor — with one ledger entry (``supervision.detect``) naming the findings when there are any.
A crash between steps loses nothing and a replay doubles nothing. Sweeps (what did not happen)
run on the clock. The background service wakes on every ledgered action (the bus), so the delay
from an append to its finding is a poll at most.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.security.service import officer_of
from citybrain.governance.supervision.integrity import DETECT_ACTION, id_ranges
from citybrain.governance.supervision.models import DetectorCursor, Finding, FindingEvidence
from citybrain.governance.supervision.rules import (
    OFFICIALS,
    RuleSpec,
    active_specs,
    ensure_default_rules,
)
from citybrain.governance.supervision.stream import (
    MAX_EVIDENCE,
    STREAM_KINDS,
    Entry,
    Evaluator,
    GrantUses,
    Hit,
    fine_action,
)
from citybrain.governance.supervision.sweeps import SWEEP_KINDS
from citybrain.kernel.db import PerDatabase
from citybrain.kernel.events import Event, GovernedActionRecorded
from citybrain.kernel.gate import Resource, register_action
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.runtime import Runtime
from citybrain.ledger.entry import to_utc
from citybrain.ledger.models import LedgerEntry

log = logging.getLogger(__name__)
ACTOR = "system:supervision"
MAX_IDS_TEXT = 360  # the ledger keeps 500 characters of purpose


class FindingRaised(Event):
    """A new finding, for the organisation's security officer and the supervisors."""

    topic: ClassVar[str] = "governance.supervision.finding_raised"
    finding_id: int
    rule: str
    article: str
    severity: str
    organisation: str
    actor: str
    resource: str
    officer: str | None = None


@dataclass(frozen=True)
class StepResult:
    """What one step did: entries read, findings opened (ids), findings updated."""

    read: int
    opened: list[int]
    updated: int


def _entries(rows: Iterable[Any]) -> list[Entry]:
    out = []
    for seq, ts, actor, org, category, resource, purpose, decision, ids in rows:
        out.append(
            Entry(
                seq,
                to_utc(ts),
                actor,
                org,
                category,
                fine_action(purpose, category),
                resource,
                purpose,
                decision,
                tuple(json.loads(ids)) if decision == "deny" else (),
            )
        )
    return out


class Detector:
    """Rules over the ledger, one step at a time (see the module doc)."""

    NAME = "main"

    def __init__(self, runtime: Runtime, *, batch: int = 5000) -> None:
        self.rt = runtime
        self.batch = batch
        self.stream: list[Evaluator] = []
        self.sweeps: list[RuleSpec] = []
        self.grant_uses = GrantUses()
        self._rules_key: tuple[tuple[str, int], ...] | None = None
        self._kinds: dict[str, str] = {}
        self._kinds_at = 0.0
        self._next: int | None = None  # the cursor as this detector last wrote it
        self.lock = threading.Lock()  # one step or sweep at a time
        register_action(DETECT_ACTION, "admin")

    # --- rules ------------------------------------------------------------------------------

    def _load_rules(self, session: Session) -> None:
        """(Re)build the evaluators when the rules in force changed (state starts afresh)."""
        specs = active_specs(session)
        key = tuple((s.code, s.version) for s in specs)
        if key == self._rules_key:
            return
        self._rules_key = key
        self.stream = [STREAM_KINDS[s.kind](s) for s in specs if s.kind in STREAM_KINDS]
        self.sweeps = [s for s in specs if s.kind in SWEEP_KINDS]

    def reset(self) -> None:
        """Forget in-memory state (after a failed step: it is re-read from the cursor)."""
        self._rules_key = None
        self._next = None
        self.grant_uses = GrantUses()

    def _article(self, session: Session, rule: RuleSpec, organisation: str) -> str:
        now = time.monotonic()
        if now - self._kinds_at > 60:  # the whole map, a minute old at most
            self._kinds = dict(session.execute(select(Organisation.code, Organisation.kind)).all())
            self._kinds_at = now
        kind = self._kinds.get(organisation)
        if kind is None:  # new since the refresh, or no organisation at all: ask for this one
            kind = session.scalar(
                select(Organisation.kind).where(Organisation.code == organisation)
            )
            if kind is not None:
                self._kinds[organisation] = kind
        return rule.article if kind in OFFICIALS else "24"

    # --- steps ------------------------------------------------------------------------------

    def step(self) -> StepResult:
        """Read up to ``batch`` new entries, evaluate, record; returns what it did."""
        with self.lock:
            try:
                return self._step()
            except Exception:
                self.reset()
                raise

    def _step(self) -> StepResult:
        """Read and evaluate outside any write lock; then one short write transaction for the
        rules' state, the findings and the cursor (which must not have moved meanwhile)."""
        rt = self.rt
        if self._next is None:
            with rt.factory.begin() as session:
                cursor = session.get(DetectorCursor, self.NAME, with_for_update=True)
                ensure_default_rules(session, rt.clock())  # rules a newer release brought
                if cursor is None:
                    cursor = DetectorCursor(name=self.NAME, next_seq=0, updated_at=rt.clock())
                    session.add(cursor)
                self._next = cursor.next_seq
        start = self._next
        cols = LedgerEntry
        with rt.reader() as session:
            self._load_rules(session)
            rows = session.execute(
                select(
                    cols.seq,
                    cols.ts,
                    cols.actor,
                    cols.organisation,
                    cols.action,
                    cols.resource,
                    cols.purpose,
                    cols.decision,
                    cols.policy_ids,
                )
                .where(cols.seq >= start)
                .order_by(cols.seq)
                .limit(self.batch)
            ).all()
        if not rows:
            return StepResult(0, [], 0)
        hits: list[Hit] = []
        for entry in _entries(rows):
            if entry.actor == ACTOR:
                continue
            self.grant_uses.observe(entry)
            for ev in self.stream:
                hits.extend(ev.observe(entry))
        with rt.factory.begin() as session:
            cursor = session.get(DetectorCursor, self.NAME, with_for_update=True)
            if cursor is None or cursor.next_seq != start:  # another process moved it
                raise RuntimeError("supervision cursor moved under this detector")
            for ev in self.stream:
                hits.extend(ev.flush(session))
            self.grant_uses.flush(session)
            cursor.next_seq = rows[-1][0] + 1
            cursor.updated_at = rt.clock()
            opened, updated, recorded = self._record(session, hits, f"detect-{rows[0][0]}")
        self._next = rows[-1][0] + 1
        self._announce(recorded, opened)
        return StepResult(len(rows), [f.id for f in opened], updated)

    def sweep(self, now: datetime | None = None) -> StepResult:
        """Run the clock-driven rules as of ``now``."""
        with self.lock:
            now = now or self.rt.clock()
            with self.rt.factory.begin() as session:
                self._load_rules(session)
                hits: list[Hit] = []
                for spec in self.sweeps:
                    hits.extend(
                        SWEEP_KINDS[spec.kind](session, spec, now, self.rt.settings.city_code)
                    )
                opened, updated, recorded = self._record(
                    session, hits, f"sweep-{now:%Y%m%dT%H%M%S}"
                )
            self._announce(recorded, opened)
            return StepResult(0, [f.id for f in opened], updated)

    def catch_up(self) -> StepResult:
        """Step until the ledger is read to its end; returns what all the steps did."""
        read, opened, updated = 0, [], 0
        while (res := self.step()).read:
            read, updated = read + res.read, updated + res.updated
            opened.extend(res.opened)
        return StepResult(read, opened, updated)

    # --- recording --------------------------------------------------------------------------

    def _record(
        self, session: Session, hits: list[Hit], request_id: str
    ) -> tuple[list[Finding], int, Any]:
        """Merge hits into findings; ledger the new ones. Returns (new, updated count, entry)."""
        if not hits:
            return [], 0, None
        latest: dict[tuple[str, str], Hit] = {}
        extra: dict[tuple[str, str], list[int]] = {}
        for h in hits:
            k = (h.rule.code, h.key)
            extra.setdefault(k, []).extend(h.seqs)
            latest[k] = h
        existing = {
            (f.rule_code, f.key): f
            for code in {c for c, _ in latest}
            for f in session.scalars(
                select(Finding).where(
                    Finding.rule_code == code, Finding.key.in_([k for c, k in latest if c == code])
                )
            )
        }
        now = self.rt.clock()
        opened: list[Finding] = []
        updated = 0
        for k, h in latest.items():
            f = existing.get(k)
            if f is None:
                f = Finding(
                    rule_code=h.rule.code,
                    rule_version=h.rule.version,
                    key=h.key,
                    article=self._article(session, h.rule, h.organisation),
                    severity=h.rule.severity,
                    status="open",
                    actor=h.actor[:200],
                    organisation=h.organisation[:200],
                    resource=h.resource[:500],
                    facts=h.facts,
                    first_seq=min(extra[k], default=0),
                    last_seq=max(extra[k], default=0),
                    evidence_count=max(h.count, len(set(extra[k]))),
                    occurred_at=h.occurred_at,
                    detected_at=now,
                    note="",
                )
                session.add(f)
                session.flush()
                have: set[int] = set()
                opened.append(f)
            else:
                f.facts = h.facts
                f.evidence_count = max(f.evidence_count, h.count)
                if extra[k]:
                    f.last_seq = max(f.last_seq, max(extra[k]))
                have = set(
                    session.scalars(
                        select(FindingEvidence.seq).where(FindingEvidence.finding_id == f.id)
                    )
                )
                updated += 1
            room = MAX_EVIDENCE - len(have)
            for seq in sorted(set(extra[k]) - have)[: max(room, 0)]:
                session.add(FindingEvidence(finding_id=f.id, seq=seq))
        if not opened:
            return [], updated, None
        ids = id_ranges([f.id for f in opened])  # one transaction: consecutive ids, short
        if len(ids) > MAX_IDS_TEXT:  # never cut a number: the verifier would misread it
            ids = ids[: ids.rfind(", ", 0, MAX_IDS_TEXT)] + ", …"
        entry = self.rt.gate.system_in(
            session,
            ACTOR,
            self.rt.settings.city_code,
            DETECT_ACTION,
            Resource("Finding", str(opened[0].id)),
            request_id=request_id,
            purpose=f"{len(opened)} findings: {ids}",
        )
        return opened, updated, entry

    def _announce(self, entry: Any, opened: list[Finding]) -> None:
        if entry is None:
            return
        self.rt.gate.publish(entry)
        with self.rt.reader() as session:
            for f in opened:
                officer = officer_of(session, f.organisation)
                self.rt.bus.publish(
                    FindingRaised(
                        finding_id=f.id,
                        rule=f.rule_code,
                        article=f.article,
                        severity=f.severity,
                        organisation=f.organisation,
                        actor=f.actor,
                        resource=f.resource,
                        officer=officer,
                    )
                )


_DETECTORS: PerDatabase[dict[str, Detector]] = PerDatabase(dict)


def detector_of(runtime: Runtime) -> Detector:
    """The one detector of a database in this process (made on first use): its in-memory
    window counts must see the whole stream."""
    holder = _DETECTORS.of(runtime.engine)
    found = holder.get("main")
    if found is None or found.rt is not runtime:
        found = holder["main"] = Detector(runtime)
    return found


class DetectorService:
    """The detector in a background thread: steps whenever an action is ledgered (or every
    ``poll_s``), but not more often than every ``min_gap_s`` while it keeps up (a busy ledger
    is read in fewer, larger steps instead of one per commit), and sweeps every ``sweep_s``."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        poll_s: float = 0.25,
        sweep_s: float = 60.0,
        min_gap_s: float = 0.1,
    ) -> None:
        self.detector = detector_of(runtime)
        self.rt = runtime
        self.poll_s, self.sweep_s, self.min_gap_s = poll_s, sweep_s, min_gap_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sub: Any = None

    def start(self) -> DetectorService:
        """Subscribe to ledgered actions and start the thread."""
        self._sub = self.rt.bus.subscribe(GovernedActionRecorded.topic, lambda _e: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="supervision", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            started = time.monotonic()
            try:
                res = self.detector.step()
                if time.monotonic() - last_sweep >= self.sweep_s:
                    last_sweep = time.monotonic()
                    self.detector.sweep()
            except Exception:
                log.exception("supervision step failed")
                res = StepResult(0, [], 0)
            if res.read < self.detector.batch:
                self._wake.wait(self.poll_s)
                if (rest := self.min_gap_s - (time.monotonic() - started)) > 0:
                    self._stop.wait(rest)

    def stop(self) -> None:
        """Stop the thread and the subscription."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._sub is not None:
            self._sub.close()
