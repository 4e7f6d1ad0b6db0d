"""The policy engine: Cedar (cedarpy), parsed once, re-parsed only when policies change.

Keep the policy set small and general; bring per-request facts as entities (see DESIGN.md,
"Measured facts").
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cedarpy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.policy.models import Policy

NS = "CityBrain"
DEFAULT_DENY = "default-deny"
_ID_ANNOTATION = re.compile(r'@id\s*\(\s*"[^"]*"\s*\)')


@dataclass(frozen=True)
class Principal:
    """Who asks: a user or service account, its organisation and the roles of its posts."""

    name: str
    organisation: str
    roles: tuple[str, ...]
    disabled: bool = False


@dataclass(frozen=True)
class ResourceRef:
    """What is asked about: type, id and the organisations it sits under (nearest first)."""

    type: str
    id: str
    ancestors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The engine's answer, naming the policies that decided it."""

    allowed: bool
    policy_ids: tuple[str, ...]
    errors: tuple[str, ...] = field(default=())


def uid(kind: str, ident: str) -> dict[str, str]:
    """A Cedar entity uid."""
    return {"type": f"{NS}::{kind}", "id": ident}


def policy_text_with_id(name: str, version: int, text: str) -> str:
    """Stamp a policy with its stored identity ``name@vN`` so decisions can name it."""
    body = _ID_ANNOTATION.sub("", text).strip()
    return f'@id("{name}@v{version}")\n{body}'


def validate_policy_text(text: str) -> None:
    """Raise InvalidInput (field ``text``) unless ``text`` is exactly one Cedar policy."""
    try:
        doc = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise InvalidInput(f"Cedar could not parse the policy: {exc}", field="text") from exc
    count = len(doc.get("staticPolicies", {})) + len(doc.get("templates", {}))
    if count != 1:
        raise InvalidInput(f"expected exactly one policy, found {count}", field="text")


def split_policies(text: str) -> list[tuple[str, str, str]]:
    """Split a Cedar file into (id, description, policy text) using its ``@id`` annotations."""
    out: list[tuple[str, str, str]] = []
    chunks = re.split(r"(?m)^(?=@id\()", text)
    for chunk in chunks:
        m = re.search(r'@id\("([^"]+)"\)', chunk)
        if not m:
            continue
        d = re.search(r'@description\("([^"]*)"\)', chunk)
        body = "\n".join(line for line in chunk.splitlines() if not line.startswith("//"))
        out.append((m.group(1), d.group(1) if d else "", body.strip()))
    return out


class PolicyEngine:
    """Holds the parsed active policy set and answers authorisation requests."""

    def __init__(self, refresh_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._policy_set: Any = None
        self._stamp: tuple[int, int] | None = None
        self._checked_at = float("-inf")
        self._refresh_s = refresh_s
        self._clock = clock
        self.texts: dict[str, str] = {}
        # Decisions of the loaded policy set: a pure function of (principal, action, resource,
        # context) — entities are built from the first three only — so a repeat is looked up.
        self._memo: dict[Any, Decision] = {}

    def invalidate(self) -> None:
        """Force a reload on the next decision (call after changing policies)."""
        with self._lock:
            self._checked_at = float("-inf")
            self._stamp = None

    def _ensure_loaded(self, session: Session) -> None:
        now = self._clock()
        if self._policy_set is not None and now - self._checked_at < self._refresh_s:
            return
        stamp_row = session.execute(
            select(func.coalesce(func.max(Policy.id), 0), func.count(Policy.id)).where(
                Policy.active.is_(True)
            )
        ).one()
        stamp = (int(stamp_row[0]), int(stamp_row[1]))
        with self._lock:
            if stamp != self._stamp or self._policy_set is None:
                rows = session.scalars(select(Policy).where(Policy.active.is_(True))).all()
                texts = {
                    f"{p.name}@v{p.version}": policy_text_with_id(p.name, p.version, p.text)
                    for p in rows
                }
                self._policy_set = cedarpy.PolicySet.from_str("\n\n".join(texts.values()))
                self._memo = {}
                self.texts = texts
                self._stamp = stamp
            self._checked_at = now

    def decide(
        self,
        session: Session,
        principal: Principal,
        action: str,
        resource: ResourceRef,
        context: dict[str, Any] | None = None,
    ) -> Decision:
        """Ask Cedar whether ``principal`` may do ``action`` on ``resource``."""
        self._ensure_loaded(session)
        return self.decide_loaded(principal, action, resource, context)

    def decide_loaded(
        self,
        principal: Principal,
        action: str,
        resource: ResourceRef,
        context: dict[str, Any] | None = None,
    ) -> Decision:
        """Decide with the policy set already in memory (no database access).

        Repeats of the same request against the same policy set are answered from memory."""
        memo = self._memo  # read before the set: a reload assigns the set, then a new memo
        policy_set = self._policy_set
        key = _memo_key(principal, action, resource, context)
        if key is not None:
            hit = memo.get(key)
            if hit is not None:
                return hit
        decision = self._evaluate(policy_set, principal, action, resource, context)
        if key is not None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[key] = decision
        return decision

    @staticmethod
    def _evaluate(
        policy_set: Any,
        principal: Principal,
        action: str,
        resource: ResourceRef,
        context: dict[str, Any] | None,
    ) -> Decision:
        entities = entities_handle(principal, resource)
        request = {
            "principal": f'{NS}::User::"{principal.name}"',
            "action": f'{NS}::Action::"{action}"',
            "resource": f'{NS}::{resource.type}::"{resource.id}"',
            "context": context or {},
        }
        result = cedarpy.is_authorized(request, policy_set, entities)
        names = result.diagnostics.id_annotations_by_reason
        ids = tuple(sorted(names.get(r, r) for r in result.diagnostics.reasons))
        if not result.allowed and not ids:
            ids = (DEFAULT_DENY,)
        return Decision(result.allowed, ids, tuple(result.diagnostics.errors))


MEMO_SIZE = 16_384
_SCALARS = (str, bool, int, float, type(None))


def _memo_key(
    principal: Principal, action: str, resource: ResourceRef, context: dict[str, Any] | None
) -> tuple[Any, ...] | None:
    """A hashable key for the request, or None when the context holds more than scalars."""
    if not context:
        return (principal, action, resource)
    if not all(isinstance(v, _SCALARS) for v in context.values()):
        return None
    items = tuple((k, v.__class__, v) for k, v in sorted(context.items()))  # True is not 1
    return (principal, action, resource, items)


@lru_cache(maxsize=8192)
def entities_handle(principal: Principal, resource: ResourceRef) -> cedarpy.Entities:
    """Parsed Cedar entities for these facts, cached: they are a pure function of the facts
    (a disabled flag or a moved organisation makes a different key)."""
    return cedarpy.Entities.from_json_str(json.dumps(build_entities(principal, resource)))


def build_entities(principal: Principal, resource: ResourceRef) -> list[dict[str, Any]]:
    """Entities for one request: the principal with its roles, the resource with its ancestors."""
    # A hierarchy is a chain without repeats; never let an entity be its own ancestor.
    org_chain: list[str] = []
    for code in resource.ancestors:
        if code not in org_chain and not (resource.type == "Organisation" and code == resource.id):
            org_chain.append(code)
    entities: list[dict[str, Any]] = [
        {
            "uid": uid("User", principal.name),
            "attrs": {
                "organisation": {"__entity": uid("Organisation", principal.organisation)},
                "disabled": principal.disabled,
            },
            "parents": [uid("Role", r) for r in principal.roles]
            + [uid("Organisation", principal.organisation)],
        }
    ]
    entities.extend({"uid": uid("Role", r), "attrs": {}, "parents": []} for r in principal.roles)
    seen = {("User", principal.name)}
    if (resource.type, resource.id) not in seen:
        parent = [uid("Organisation", org_chain[0])] if org_chain else []
        entities.append({"uid": uid(resource.type, resource.id), "attrs": {}, "parents": parent})
        seen.add((resource.type, resource.id))
    for i, org in enumerate(org_chain):
        if ("Organisation", org) in seen:
            continue
        seen.add(("Organisation", org))
        parent = [uid("Organisation", org_chain[i + 1])] if i + 1 < len(org_chain) else []
        entities.append({"uid": uid("Organisation", org), "attrs": {}, "parents": parent})
    if ("Organisation", principal.organisation) not in seen:
        entities.append(
            {"uid": uid("Organisation", principal.organisation), "attrs": {}, "parents": []}
        )
    return entities


def names_of(decisions: Iterable[Decision]) -> list[str]:
    """All policy ids named by a series of decisions (for reports)."""
    return sorted({p for d in decisions for p in d.policy_ids})
