"""The scoring rules of provider accountability, in one place: how many points each finding
costs, the thresholds behind them, and the evidence and score-card shapes.

Each dimension (timeliness, completeness, accuracy, authenticity) starts at 100 and loses the
points of its evidence; a score never drops below 0. docs/hub.md (§5) explains the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from citybrain.kernel.i18n import t


@dataclass(frozen=True)
class Rule:
    """A way to lose points: ``points = min(cap, round(weight × rate))``, rate ≥ 0."""

    dimension: str
    cap: int
    weight: float


# The scoring formulas, in one place (docs/hub.md §5 explains them). Each dimension starts
# at 100 and loses the points of its rules' evidence; the score never drops below 0.
RULES: dict[str, Rule] = {
    # rate = lag / update_frequency − LAG_GRACE (periods late beyond one and a half)
    "lag": Rule("timeliness", 40, 10.0),
    "no_data": Rule("timeliness", 40, 40.0),  # rate 1 when nothing was ever received
    "missing_reports": Rule("timeliness", 30, 30.0),  # rate = missed periods / expected
    "late_entities": Rule("timeliness", 30, 30.0),  # rate = entities older than 2f / all
    "required_missing": Rule("completeness", 60, 60.0),  # rate = missing cells / (rows × k)
    "silent_entities": Rule("completeness", 40, 40.0),  # rate = seen in window, silent 3f
    "null_rate": Rule("completeness", 0, 0.0),  # optional fields ≥ 10 % empty: shown, free
    "quarantined_rows": Rule("accuracy", 25, 125.0),  # rate = quarantined / rows received
    "dead_letters": Rule("accuracy", 15, 75.0),  # rate = dead letters / (dead + stream rows)
    "out_of_range": Rule("accuracy", 40, 200.0),  # rate = violations / constrained values
    "inconsistent_sources": Rule("accuracy", 20, 40.0),  # rate = disagreeing / compared pairs
    "unsigned_rows": Rule("authenticity", 100, 100.0),  # rate = rows of unsigned batches
    "invalid_signature": Rule("authenticity", 100, 100.0),  # rate = rows failing verification
}
DEFAULT_WINDOW = timedelta(hours=24)
LAG_GRACE = 1.5
MIN_PERIODS = 3  # a dataset's window spans at least this many update periods
LATE_FACTOR = 2  # an entity is late when its newest update is older than 2 × frequency
SILENT_FACTOR = 3  # ... and silent when seen in the window but not in the last 3 × frequency
NULL_INFO_RATE = 0.1
NEARBY_M = 50.0  # redundant sources: same refPointOfInterest, or within 50 m
CELL_DEG = 0.00045  # candidate grid for "within 50 m" (≈ 50 m of latitude)
REL_TOLERANCE = 0.10  # co-located values disagree beyond 10 % of the larger magnitude
MAX_REFS = 10
MAX_GROUPS = 200  # co-located groups compared per dataset and round
MAX_GROUP_SIZE = 20  # entities compared per group (pairs grow with the square)
DEFAULT_THRESHOLD = 60
POI = "refPointOfInterest"


def points(rule: str, rate: float) -> int:
    """The points ``rule`` takes at ``rate`` (see RULES)."""
    r = RULES[rule]
    return max(0, min(r.cap, round(r.weight * max(rate, 0.0))))


@dataclass
class Evidence:
    """Why points were lost: the rule, how many, bilingual detail, and what to look at
    (``batch:ID``, ``entity:ID``, ``dead-letter:ID``, ``ledger:SEQ``, ``field:NAME``)."""

    rule: str
    points: int
    detail_zh: str
    detail_en: str
    refs: list[str] = field(default_factory=list)


def evidence(rule: str, pts: int, refs: Iterable[str] = (), **values: Any) -> Evidence:
    """An evidence item whose detail comes from the message catalogue (``quality.rule.*``)."""
    key = f"quality.rule.{rule}"
    return Evidence(rule, pts, t(key, "zh-CN", **values), t(key, "en", **values), list(refs))


@dataclass
class ScoreCard:
    """One dataset's score in one dimension for one window."""

    dataset: str
    provider: str
    dimension: str
    score: int
    evidence: list[Evidence]
    window_start: datetime
    window_end: datetime

    def evidence_dicts(self) -> list[dict[str, Any]]:
        """The evidence as stored (JSON)."""
        return [asdict(e) for e in self.evidence]


def card(dimension: str, target: Target, items: list[Evidence], now: datetime) -> ScoreCard:
    """A score card: 100 minus the evidence's points, never below 0, items costliest first."""
    items = sorted(items, key=lambda e: -e.points)
    score = max(0, 100 - sum(e.points for e in items))
    return ScoreCard(target.slug, target.provider, dimension, score, items, target.start, now)


def split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` points shared in proportion to ``weights`` (largest remainder, sums exactly)."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    raw = [total * w / whole for w in weights]
    out = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[: total - sum(out)]:
        out[i] += 1
    return out


@dataclass
class Target:
    """A catalogue dataset as scored: provider, frequency, schema fields, window start."""

    slug: str
    provider: str
    freq: timedelta | None
    fields: list[dict[str, Any]]
    primary_key: list[str]
    created_at: datetime
    start: datetime  # the window's start for this dataset


def metres(a: Sequence[float], b: Sequence[float]) -> float:
    """Great-circle distance between two (lon, lat) points in metres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2
    h += math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def _number(attrs: Any, iri: str) -> float | None:
    value = (attrs or {}).get(iri)
    value = value.get("value") if isinstance(value, dict) else None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def disagree(a: Any, b: Any, iris: list[str]) -> bool | None:
    """None when two entities share no numeric value; else whether any differs by more than
    REL_TOLERANCE of the larger magnitude."""
    verdict = None
    for iri in iris:
        x, y = _number(a, iri), _number(b, iri)
        if x is not None and y is not None:
            verdict = bool(verdict) or abs(x - y) > REL_TOLERANCE * max(abs(x), abs(y))
    return verdict
