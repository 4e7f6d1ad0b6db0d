"""Findings checked against the ledger. The detector names every finding it opens in the
``supervision.detect`` entry of the same transaction (ids as ranges, ``"12-57, 60"``), and that
entry is hashed into the signed log. So a finding deleted from the table to hide it, or one
written into the table by anything but the detector, shows: ``citybrain supervision verify``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.governance.supervision.models import Finding
from citybrain.ledger.models import LedgerEntry

DETECT_ACTION = "supervision.detect"
IDS = re.compile(r"^\d+ findings: (.*)$")
MAX_LISTED = 20  # ids listed per problem in the result (the counts cover all)


def id_ranges(ids: list[int]) -> str:
    """``[3, 4, 5, 9]`` → ``"3-5, 9"``."""
    parts: list[str] = []
    for i in sorted(set(ids)):
        if parts and (tail := parts[-1].rsplit("-", 1)[-1]).isdigit() and int(tail) == i - 1:
            head = parts[-1].split("-", 1)[0]
            parts[-1] = f"{head}-{i}"
        else:
            parts.append(str(i))
    return ", ".join(parts)


def parse_ids(purpose: str) -> set[int]:
    """The finding ids a detect entry's purpose names (ranges or a plain list)."""
    text = purpose.removeprefix(f"{DETECT_ACTION}: ")
    m = IDS.match(text)
    if not m:
        return set()
    ids: set[int] = set()
    for token in m.group(1).split(","):
        lo, _, hi = token.strip().partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            ids.update(range(int(lo), int(hi or lo) + 1))
    return ids


@dataclass
class FindingCheck:
    """What the check saw: detect entries read, ids they name, findings stored, and the two
    kinds of disagreement (ids listed up to ``MAX_LISTED``)."""

    entries: int = 0
    ledgered: int = 0
    stored: int = 0
    missing: list[int] = field(default_factory=list)  # in the ledger, gone from the table
    unledgered: list[int] = field(default_factory=list)  # in the table, never ledgered
    missing_count: int = 0
    unledgered_count: int = 0

    @property
    def ok(self) -> bool:
        """No finding deleted, none added behind the detector's back."""
        return not (self.missing_count or self.unledgered_count)


def check_findings(session: Session) -> FindingCheck:
    """Compare the findings table with the detector's ledger entries."""
    e = LedgerEntry
    ledgered: set[int] = set()
    check = FindingCheck()
    for (purpose,) in session.execute(
        select(e.purpose).where(e.purpose.like(f"{DETECT_ACTION}:%")).order_by(e.seq)
    ):
        check.entries += 1
        ledgered |= parse_ids(purpose)
    stored = set(session.scalars(select(Finding.id)))
    missing, unledgered = sorted(ledgered - stored), sorted(stored - ledgered)
    check.ledgered, check.stored = len(ledgered), len(stored)
    check.missing, check.missing_count = missing[:MAX_LISTED], len(missing)
    check.unledgered, check.unledgered_count = unledgered[:MAX_LISTED], len(unledgered)
    return check
