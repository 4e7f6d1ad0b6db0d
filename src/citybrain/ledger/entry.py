"""What a ledger entry says, and the exact bytes its leaf hash covers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACTIONS = ("collect", "transmit", "share", "access", "use", "export", "delete", "admin")
DECISIONS = ("allow", "deny")

# Column widths of citybrain.ledger.models.LedgerEntry (PostgreSQL enforces them).
MAX_LENGTHS = {
    "actor": 200,
    "organisation": 200,
    "resource": 500,
    "purpose": 500,
    "request_id": 100,
}
MAX_POLICY_IDS_CHARS = 100_000


def _check_text(name: str, value: Any, limit: int | None) -> str:
    """``value`` as a plain str (a str subclass such as an enum member keeps only its text),
    or ValueError naming the field."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be a string, got {type(value).__name__}")
    text = value if type(value) is str else str.__str__(value)
    if limit is not None and len(text) > limit:
        raise ValueError(f"{name}: longer than {limit} characters")
    if "\x00" in text:
        raise ValueError(f"{name}: contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name}: not encodable as UTF-8 ({exc.reason})") from None
    return text


@dataclass(frozen=True, slots=True)
class EntryData:
    """One supervised action: who did what to which resource, for what purpose, and the verdict."""

    actor: str
    organisation: str
    action: str
    resource: str
    purpose: str
    decision: str
    policy_ids: tuple[str, ...] = field(default=())
    request_id: str = ""

    def __post_init__(self) -> None:
        for name, allowed in (("action", ACTIONS), ("decision", DECISIONS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
            if type(value) is not str:
                object.__setattr__(self, name, str.__str__(value))
        for name, limit in MAX_LENGTHS.items():
            value = getattr(self, name)
            text = _check_text(name, value, limit)
            if text is not value:
                object.__setattr__(self, name, text)
        ids = self.policy_ids
        if isinstance(ids, str) or not isinstance(ids, (tuple, list)):
            raise ValueError("policy_ids: must be a tuple of strings")
        ids = tuple(_check_text("policy_ids", pid, None) for pid in ids)
        if sum(map(len, ids)) > MAX_POLICY_IDS_CHARS:
            raise ValueError(f"policy_ids: more than {MAX_POLICY_IDS_CHARS} characters in all")
        object.__setattr__(self, "policy_ids", ids)


def to_utc(ts: datetime) -> datetime:
    """``ts`` as an aware UTC datetime; a naive value (as SQLite returns it) is taken as UTC."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def iso_utc(ts: datetime) -> str:
    """ISO-8601 UTC with microseconds, e.g. ``2025-01-31T08:00:00.000000Z``."""
    return to_utc(ts).isoformat(timespec="microseconds").replace("+00:00", "Z")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def policy_ids_json(ids: tuple[str, ...] | list[str]) -> str:
    """How ``policy_ids`` is stored in its text column: a compact JSON array."""
    return _CANONICAL.encode(list(ids))


def canonical_bytes(seq: int, ts: datetime, entry: EntryData) -> bytes:
    """The bytes the leaf hash covers: canonical JSON (sorted keys, compact, UTF-8)."""
    doc = {
        "action": entry.action,
        "actor": entry.actor,
        "decision": entry.decision,
        "organisation": entry.organisation,
        "policy_ids": list(entry.policy_ids),
        "purpose": entry.purpose,
        "request_id": entry.request_id,
        "resource": entry.resource,
        "seq": seq,
        "ts": iso_utc(ts),
    }
    return _CANONICAL.encode(doc).encode()


def entry_from_row(
    actor: str,
    organisation: str,
    action: str,
    resource: str,
    purpose: str,
    decision: str,
    policy_ids: str,
    request_id: str,
) -> EntryData:
    """Rebuild an :class:`EntryData` from stored columns (``policy_ids`` as its JSON text)."""
    ids = json.loads(policy_ids)
    if not isinstance(ids, list):
        raise ValueError("policy_ids: stored value is not a JSON array")
    return EntryData(
        actor, organisation, action, resource, purpose, decision, tuple(ids), request_id
    )
