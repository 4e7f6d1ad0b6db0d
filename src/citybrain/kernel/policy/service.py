"""Policy logic: versioned storage of Cedar policies. No HTTP."""

from __future__ import annotations

from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.kernel.clock import Clock, system_clock
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.policy.engine import split_policies, validate_policy_text
from citybrain.kernel.policy.models import Policy


def default_policies() -> list[tuple[str, str, str]]:
    """(name, description, text) of the packaged default policies: ``policies/default.cedar``,
    then each other ``policies/*.cedar`` (one per package) in name order."""
    folder = resources.files("citybrain.kernel").joinpath("policies")
    files = sorted(
        (p for p in folder.iterdir() if p.name.endswith(".cedar")),
        key=lambda p: (p.name != "default.cedar", p.name),
    )
    return [policy for f in files for policy in split_policies(f.read_text("utf-8"))]


def known_names(session: Session) -> set[str]:
    """Names of every policy ever stored, active or not."""
    return set(session.scalars(select(Policy.name).distinct()))


def create_policy(
    session: Session,
    *,
    name: str,
    text: str,
    description: str = "",
    created_by: str,
    clock: Clock = system_clock,
) -> Policy:
    """Store a new version of policy ``name`` and make it the active one."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidInput("name must be letters, digits, '-', '_' or '.'", field="name")
    validate_policy_text(text)
    latest = session.scalar(select(func.max(Policy.version)).where(Policy.name == name)) or 0
    for old in session.scalars(select(Policy).where(Policy.name == name, Policy.active.is_(True))):
        old.active = False
    policy = Policy(
        name=name,
        version=latest + 1,
        description=description,
        text=text,
        active=True,
        created_at=clock(),
        created_by=created_by,
    )
    session.add(policy)
    session.flush()
    return policy


def deactivate_policy(session: Session, name: str) -> Policy:
    """Turn off the active version of ``name`` (history is kept)."""
    policy = session.scalar(select(Policy).where(Policy.name == name, Policy.active.is_(True)))
    if policy is None:
        raise NotFound(f"no active policy {name!r}", field="name")
    policy.active = False
    session.flush()
    return policy


def list_policies(session: Session, include_inactive: bool = False) -> list[Policy]:
    """Policies ordered by name and version."""
    q = select(Policy).order_by(Policy.name, Policy.version)
    if not include_inactive:
        q = q.where(Policy.active.is_(True))
    return list(session.scalars(q))
