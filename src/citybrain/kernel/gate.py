"""The gate: the one call every governed action goes through.

``Gate.act`` authenticates nothing itself (the caller is already resolved), asks the policy
engine, and appends a ledger entry in the same database transaction as the action, so that no
action happens without its record and no record exists without its action. A denial is ledgered
in its own transaction and raises Forbidden naming the deciding policies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citybrain.kernel.errors import Forbidden, InvalidInput
from citybrain.kernel.events import EventBus, GovernedActionRecorded
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.identity.service import Caller
from citybrain.kernel.policy.engine import Decision, PolicyEngine, Principal, ResourceRef
from citybrain.ledger.entry import EntryData
from citybrain.ledger.service import GroupCommitter, Ledger

SYSTEM_POLICY = "local-operator"
# Policy context: facts, or a function computing them in the decision's session.
Context = dict[str, Any] | Callable[[Session], dict[str, Any]] | None

# Fine-grained gate actions and the ledger category (Art16) each one is recorded under.
ACTIONS: dict[str, str] = {
    "org.create": "admin",
    "org.read": "access",
    "post.create": "admin",
    "user.create": "admin",
    "user.read": "access",
    "user.update": "admin",
    "apikey.create": "admin",
    "policy.create": "admin",
    "policy.read": "access",
    "policy.update": "admin",
    "ledger.read": "access",
    "ledger.checkpoint": "admin",
    "self.read": "access",
    "self.update": "admin",
    "token.create": "admin",
}


def register_action(name: str, category: str) -> None:
    """Let a package declare a gate action and its ledger category (collect, share, ...)."""
    from citybrain.ledger.entry import ACTIONS as CATEGORIES

    if category not in CATEGORIES:
        raise ValueError(f"unknown ledger action category {category!r}")
    ACTIONS[name] = category


@dataclass(frozen=True)
class Resource:
    """What an action touches: type, id, and the organisation it belongs to (if any)."""

    type: str
    id: str
    organisation: str | None = None

    @property
    def label(self) -> str:
        """How the resource is named in the ledger."""
        return f"{self.type}/{self.id}"


class OrgAncestry:
    """Organisation hierarchy lookups with a short-lived cache (orgs rarely move)."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def chain(self, session: Session, code: str | None) -> tuple[str, ...]:
        """``code`` followed by its ancestors, nearest first."""
        if not code:
            return ()
        now = time.monotonic()
        hit = self._cache.get(code)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        chain: list[str] = []
        current: str | None = code
        while current and len(chain) < 32:
            chain.append(current)
            parent = session.execute(
                select(Organisation.parent_id).where(Organisation.code == current)
            ).scalar()
            current = (
                session.execute(select(Organisation.code).where(Organisation.id == parent)).scalar()
                if parent
                else None
            )
        result = tuple(chain)
        with self._lock:
            self._cache[code] = (now, result)
        return result

    def forget(self) -> None:
        """Drop the cache (after organisations change)."""
        with self._lock:
            self._cache.clear()


class Gate:
    """Policy decision plus ledger append, in one unit of work.

    ``act`` is for changes: the entry commits in the action's own transaction. ``read`` is for
    reads: the data is read, then its entry is made durable (through the group committer when
    there is one, so concurrent reads share commits) before the caller may return the data.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        ledger: Ledger,
        policies: PolicyEngine,
        bus: EventBus | None = None,
        *,
        reader: sessionmaker[Session] | None = None,
        committer: GroupCommitter | None = None,
    ) -> None:
        self.factory = factory
        self.reader = reader or factory
        self.ledger = ledger
        self.policies = policies
        self.bus = bus
        self.committer = committer
        self.ancestry = OrgAncestry()

    def decide(
        self,
        session: Session,
        caller: Caller,
        action: str,
        resource: Resource,
        context: Context = None,
    ) -> Decision:
        """Ask the policy engine only (no ledger); used by the gate and by benchmarks.

        ``context`` may be a function of the session: facts read in the decision's own session
        (e.g. a grant's live state), saving a second session."""
        if action not in ACTIONS:
            raise InvalidInput(f"unknown gate action {action!r}", field="action")
        if callable(context):
            context = context(session)
        principal = Principal(caller.name, caller.organisation, caller.roles, caller.disabled)
        ref = ResourceRef(
            resource.type, resource.id, self.ancestry.chain(session, resource.organisation)
        )
        return self.policies.decide(session, principal, action, ref, context)

    def _entry(
        self,
        caller_name: str,
        organisation: str,
        action: str,
        resource: Resource,
        purpose: str,
        decision: str,
        policy_ids: tuple[str, ...],
        request_id: str,
    ) -> EntryData:
        return EntryData(
            actor=caller_name,
            organisation=organisation,
            action=ACTIONS[action],
            resource=resource.label,
            purpose=f"{action}: {purpose}" if purpose else action,  # fine action kept
            decision=decision,
            policy_ids=policy_ids,
            request_id=request_id,
        )

    @contextmanager
    def act(
        self,
        caller: Caller,
        action: str,
        resource: Resource,
        *,
        request_id: str,
        purpose: str = "",
        context: dict[str, Any] | None = None,
    ) -> Iterator[Session]:
        """Decide, then run the body in the same transaction as its ledger entry.

        Yields the session to do the action with; commits both on success, rolls back both on
        any exception. Raises Forbidden (after ledgering the denial) when the policy says no.
        """
        session = self.factory()
        try:
            session.begin()
            decision = self.decide(session, caller, action, resource, context)
            if not decision.allowed:
                session.rollback()
                raise self._deny(caller, action, resource, purpose, decision, request_id)
            entry = self._entry(
                caller.name,
                caller.organisation,
                action,
                resource,
                purpose,
                "allow",
                decision.policy_ids,
                request_id,
            )
            self.ledger.append(session, entry)
            yield session
            session.commit()
            self._publish(entry)
        except BaseException:
            if session.in_transaction():
                session.rollback()
            raise
        finally:
            session.close()

    def _deny(
        self,
        caller: Caller,
        action: str,
        resource: Resource,
        purpose: str,
        decision: Decision,
        request_id: str,
    ) -> Forbidden:
        """Ledger a policy denial in its own transaction; return the error to raise."""
        denied = self._entry(
            caller.name,
            caller.organisation,
            action,
            resource,
            purpose,
            "deny",
            decision.policy_ids,
            request_id,
        )
        with self.factory.begin() as deny_session:
            self.ledger.append(deny_session, denied)
        self._publish(denied)
        return Forbidden(
            f"{caller.name} may not {action} {resource.label}; decided by "
            + ", ".join(decision.policy_ids),
            policies=list(decision.policy_ids),
            action=action,
        )

    @contextmanager
    def read(
        self,
        caller: Caller,
        action: str,
        resource: Resource,
        *,
        request_id: str,
        purpose: str = "",
        context: Context = None,
    ) -> Iterator[Session]:
        """Decide, yield a read-only session for the read, then make its entry durable.

        Nothing of the read may leave the ``with`` block's caller before this returns: the
        disclosure happens only once its record is committed. With a group committer the entry
        is queued as soon as the decision allows, so its commit overlaps the read; a read that
        then raises is still recorded (an allowed attempt). Without one, a read that raises is
        not recorded. A denial is recorded and raises Forbidden.
        """
        with self.reader() as session:
            decision = self.decide(session, caller, action, resource, context)
            if not decision.allowed:
                session.rollback()
                raise self._deny(caller, action, resource, purpose, decision, request_id)
            entry = self._entry(
                caller.name,
                caller.organisation,
                action,
                resource,
                purpose,
                "allow",
                decision.policy_ids,
                request_id,
            )
            pending = self.committer.submit_async(entry) if self.committer is not None else None
            try:
                yield session
            except BaseException:
                if pending is not None:  # recorded all the same: say so before the error leaves
                    pending.result()
                    self._publish(entry)
                raise
        if pending is not None:
            pending.result()  # durable before the data leaves
        else:
            with self.factory.begin() as record_session:
                self.ledger.append(record_session, entry)
        self._publish(entry)

    def record_denial(
        self,
        caller: Caller,
        action: str,
        resource: Resource,
        *,
        request_id: str,
        policy_ids: tuple[str, ...],
        purpose: str = "",
    ) -> None:
        """Ledger a denial decided before the policy engine was asked (e.g. a one-time token)."""
        entry = self._entry(
            caller.name,
            caller.organisation,
            action,
            resource,
            purpose,
            "deny",
            policy_ids,
            request_id,
        )
        with self.factory.begin() as session:
            self.ledger.append(session, entry)
        self._publish(entry)

    @contextmanager
    def system(
        self,
        actor: str,
        organisation: str,
        action: str,
        resource: Resource,
        *,
        request_id: str,
        purpose: str = "",
        policy: str = SYSTEM_POLICY,
    ) -> Iterator[Session]:
        """An action the policy engine is not asked about, ledgered under ``policy``: the local
        operator (CLI with database access) or a password login."""
        entry = self._entry(
            actor, organisation, action, resource, purpose, "allow", (policy,), request_id
        )
        with self.factory.begin() as session:
            self.ledger.append(session, entry)
            yield session
        self._publish(entry)

    def system_in(
        self,
        session: Session,
        actor: str,
        organisation: str,
        action: str,
        resource: Resource,
        *,
        request_id: str,
        purpose: str = "",
        policy: str = SYSTEM_POLICY,
    ) -> EntryData:
        """Like :meth:`system`, in the caller's own transaction (the caller commits); publish
        the returned entry with :meth:`publish` once it has."""
        entry = self._entry(
            actor, organisation, action, resource, purpose, "allow", (policy,), request_id
        )
        self.ledger.append(session, entry)
        return entry

    def publish(self, entry: EntryData) -> None:
        """Announce a committed entry on the bus (``GovernedActionRecorded``)."""
        self._publish(entry)

    def _publish(self, entry: EntryData) -> None:
        if self.bus is None:
            return
        self.bus.publish(
            GovernedActionRecorded(
                actor=entry.actor,
                organisation=entry.organisation,
                action=entry.action,
                resource=entry.resource,
                decision=entry.decision,
                policy_ids=list(entry.policy_ids),
                request_id=entry.request_id,
            )
        )
