"""The "usable but not visible" (可用不可见) sandbox: aggregate queries run inside the hub.

A grantee sends a structured aggregate query (:class:`AggregateQuery`, from JSON); the sandbox
runs it in an in-process DuckDB over the dataset's rows and releases only aggregates:

* columns are checked against the grant (:class:`SandboxPolicy`): group-by columns must be
  ``groupable``, aggregated columns ``aggregatable`` and numeric, filter columns ``filterable``;
  anything else is refused (``column_not_allowed``) before any data is touched;
* singling out (query-set-size control, computed on the exact data, so a refusal is the same
  every time it is asked and repeating it teaches nothing new):
  - the filter selects fewer than ``min_group`` rows -> refused ``singles_out``
    (``where id = X``, or a dataset smaller than one group);
  - the filter leaves out between 1 and ``min_group - 1`` rows -> refused ``singles_out``:
    subtracting its answer from the unfiltered one would isolate those rows
    (``where age != 97``);
  - with ``group_by``, every group is smaller than ``min_group`` -> refused ``all_groups_small``;
  - otherwise groups smaller than ``min_group`` are suppressed and counted;
* differential privacy (``"dp": {"epsilon": e}``): Laplace noise drawn by OpenDP (see
  :mod:`.dp`); epsilon is split equally between the noisy count (needed for ``count``,
  ``mean`` and for choosing which groups to release) and one clamped sum per distinct
  aggregated column (a ``sum`` and a ``mean`` of the same column share it); a mean is the noisy
  sum over the noisy count. With ``group_by`` a group is released only when its *noisy* count
  reaches the release threshold (at least ``min_group``, higher when needed for ``delta``), and
  the groups being disjoint, the query costs its epsilon once (parallel composition). The
  budget is charged before anything is released; a refused query costs nothing (refusals depend
  only on exact data, never on noise, so retrying one draws nothing new), while a DP query whose
  noisy counts all fall below the threshold is charged and returns no rows. Exact
  ``rows_selected`` and ``suppressed_groups`` are withheld (``None``) under DP.

Residual risks the caller must cover (the supervision issue reads the ledger, so log
``query_fingerprint`` and ``rows_selected`` of every query):

* differencing across queries: two answers whose filters or groups differ by fewer than
  ``min_group`` people (e.g. district A with and without ``age < 90``) isolate those people
  when DP is off; many narrow, overlapping queries from one grantee are the signature;
* the refusals (with or without DP) and the ``min_group`` suppression without DP are
  deterministic functions of the exact data, not covered by any epsilon (each reveals "fewer
  than min_group"); delta is reported per query but the budget accounts epsilon only;
* a sum or mean dominated by one large value reveals roughly that value when DP is off (no
  dominance rule is applied);
* DP assumes one row per person; a person with several rows gets proportionally less
  protection. NULLs in an aggregated column count as 0 (clamped into the bounds) under DP.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from citybrain.governance.privacy import dp as dpm
from citybrain.governance.privacy.sandbox_sql import (
    FUNCTIONS,
    MAX_GROUP_BY,
    OPERATORS,
    Aggregate,
    AggregateQuery,
    Condition,
    DPSpec,
    SandboxRefused,
    check_columns,
    compile_query,
    run_sql,
)

__all__ = [
    "FUNCTIONS",
    "MAX_GROUP_BY",
    "OPERATORS",
    "REASONS",
    "Aggregate",
    "AggregateQuery",
    "Condition",
    "DPSpec",
    "MemoryBudget",
    "PrivacyBudget",
    "SandboxPolicy",
    "SandboxRefused",
    "SandboxResult",
    "budget_exhausted",
    "run_query",
]

REASONS = (
    "singles_out",
    "all_groups_small",
    "column_not_allowed",
    "column_not_numeric",
    "bounds_required",
    "budget_exhausted",
    "dp_required",
)
_SLACK = 1e-9  # float rounding allowed when adding up charges


def budget_exhausted(dataset_id: str, remaining: float, epsilon: float) -> SandboxRefused:
    """The refusal every :class:`PrivacyBudget` raises when a charge would overspend."""
    return SandboxRefused(
        "budget_exhausted",
        f"the privacy budget of dataset {dataset_id!r} is used up: {remaining:.4g} left, "
        f"the query needs epsilon {epsilon:.4g}",
        field="dp.epsilon",
        dataset=dataset_id,
        remaining=round(remaining, 6),
        epsilon=epsilon,
    )


@runtime_checkable
class PrivacyBudget(Protocol):
    """Per-dataset epsilon budget. ``charge`` must check and spend atomically."""

    def remaining(self, dataset_id: str) -> float:
        """Epsilon still available for the dataset (0 when none was granted)."""
        ...

    def charge(self, dataset_id: str, epsilon: float, query_fingerprint: str) -> None:
        """Spend ``epsilon``, or raise :func:`budget_exhausted` and spend nothing."""
        ...


class MemoryBudget:
    """A thread-safe in-memory :class:`PrivacyBudget` (tests, single-process tools)."""

    def __init__(self, total_by_dataset: Mapping[str, float]) -> None:
        self._total = {k: float(v) for k, v in total_by_dataset.items()}
        self._spent: dict[str, float] = {}
        self._charges: list[tuple[str, float, str]] = []
        self._lock = threading.Lock()

    def remaining(self, dataset_id: str) -> float:
        """Epsilon still available for the dataset."""
        with self._lock:
            return self._remaining(dataset_id)

    def _remaining(self, dataset_id: str) -> float:
        left = self._total.get(dataset_id, 0.0) - self._spent.get(dataset_id, 0.0)
        return max(left, 0.0)

    def charge(self, dataset_id: str, epsilon: float, query_fingerprint: str) -> None:
        """Spend ``epsilon`` atomically or raise ``budget_exhausted``."""
        if not epsilon > 0:
            raise ValueError("a charge must be positive")
        with self._lock:
            left = self._remaining(dataset_id)
            if epsilon > left + _SLACK:
                raise budget_exhausted(dataset_id, left, epsilon)
            self._spent[dataset_id] = self._spent.get(dataset_id, 0.0) + epsilon
            self._charges.append((dataset_id, epsilon, query_fingerprint))

    def charges(self) -> list[tuple[str, float, str]]:
        """Every successful charge: (dataset, epsilon, query fingerprint)."""
        with self._lock:
            return list(self._charges)


@dataclass(frozen=True)
class SandboxPolicy:
    """What a grant allows on one dataset.

    ``filterable`` defaults to ``groupable | aggregatable`` (identifiers such as ``id_number``
    must not be filterable: ``id_number != X`` differenced against the unfiltered answer
    isolates X). ``bounds`` clamp columns for DP sums and means. ``delta`` is the chance that
    a group of one person shows up in a DP release with ``group_by``.
    """

    groupable: frozenset[str]
    aggregatable: frozenset[str]
    filterable: frozenset[str] | None = None
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    min_group: int = 10
    delta: float = 1e-6
    require_dp: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "groupable", frozenset(self.groupable))
        object.__setattr__(self, "aggregatable", frozenset(self.aggregatable))
        if self.filterable is None:
            object.__setattr__(self, "filterable", self.groupable | self.aggregatable)
        else:
            object.__setattr__(self, "filterable", frozenset(self.filterable))
        if isinstance(self.min_group, bool) or not isinstance(self.min_group, int):
            raise ValueError("min_group must be an integer")
        if self.min_group < 2:
            raise ValueError("min_group must be at least 2")
        if not 0 < self.delta <= 1e-3:
            raise ValueError("delta must be in (0, 0.001]")
        for column, (lo, hi) in self.bounds.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"bounds of {column!r} must be finite with lo < hi")


@dataclass(frozen=True)
class SandboxResult:
    """What leaves the sandbox: aggregates only, plus what the caller needs to ledger them."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    suppressed_groups: int | None  # None under DP (the exact number of groups is sensitive)
    rows_selected: int | None  # None under DP
    epsilon_spent: float
    delta_spent: float
    remaining_budget: float | None
    min_group: int
    noise: dict[str, Any] | None  # mechanism, epsilon split, scales, threshold; None without DP
    query_fingerprint: str

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}``."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (dates as ISO strings)."""
        return {
            "columns": list(self.columns),
            "rows": [[_json_value(v) for v in row] for row in self.rows],
            "suppressed_groups": self.suppressed_groups,
            "rows_selected": self.rows_selected,
            "epsilon_spent": self.epsilon_spent,
            "delta_spent": self.delta_spent,
            "remaining_budget": self.remaining_budget,
            "min_group": self.min_group,
            "noise": self.noise,
            "query_fingerprint": self.query_fingerprint,
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _as_table(data: pa.Table | Sequence[Mapping[str, Any]]) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return pa.Table.from_pylist(list(data))
    raise TypeError("data must be a pyarrow Table or a list of dicts")


def _check_singling_out(
    query: AggregateQuery, counts: Sequence[int], total: int, min_group: int
) -> None:
    selected = sum(counts)
    where = "where" if query.where else None
    if selected < min_group:
        raise SandboxRefused(
            "singles_out",
            f"the query selects fewer than {min_group} rows and could single out individuals",
            field=where,
            min_group=min_group,
        )
    if query.where and 0 < total - selected < min_group:
        raise SandboxRefused(
            "singles_out",
            f"the filter leaves out fewer than {min_group} rows; compared with the unfiltered "
            "answer it would single them out",
            field=where,
            message_key="sandbox.refused.singles_out_complement",
            min_group=min_group,
        )
    if query.group_by and all(n < min_group for n in counts):
        raise SandboxRefused(
            "all_groups_small",
            f"every group has fewer than {min_group} rows; nothing could be released",
            field="group_by",
            min_group=min_group,
        )


def run_query(
    query: AggregateQuery | Mapping[str, Any],
    data: pa.Table | Sequence[Mapping[str, Any]],
    policy: SandboxPolicy,
    *,
    dataset_id: str,
    budget: PrivacyBudget | None = None,
) -> SandboxResult:
    """Run an aggregate query over ``data`` under ``policy``; only aggregates come back.

    Raises :class:`SandboxRefused` (reason code) or :class:`InvalidInput` (field path). A
    DP query needs ``budget``; it is charged before anything is released.
    """
    parsed = query if isinstance(query, AggregateQuery) else AggregateQuery.from_dict(query)
    table = _as_table(data)
    check_columns(
        parsed,
        table.schema,
        groupable=policy.groupable,
        aggregatable=policy.aggregatable,
        filterable=policy.filterable or frozenset(),
    )
    if parsed.dp is None and policy.require_dp:
        raise SandboxRefused(
            "dp_required",
            "this grant only allows differentially private queries; add dp.epsilon",
            field="dp",
        )
    clamp: dict[str, tuple[float, float]] | None = None
    if parsed.dp is not None:
        if budget is None:
            raise ValueError("a differentially private query needs a PrivacyBudget")
        clamp = {}
        for i, aggregate in enumerate(parsed.aggregates):
            if aggregate.column is None:
                continue
            if aggregate.column not in policy.bounds:
                raise SandboxRefused(
                    "bounds_required",
                    f"column {aggregate.column!r} has no declared bounds; differentially "
                    f"private {aggregate.fn} needs them",
                    field=f"aggregates[{i}].column",
                    column=aggregate.column,
                )
            clamp[aggregate.column] = policy.bounds[aggregate.column]
    compiled = compile_query(parsed, clamp=clamp)
    rows = run_sql(table, compiled)
    keys = len(parsed.group_by)
    counts = [int(row[keys]) for row in rows]
    _check_singling_out(parsed, counts, table.num_rows, policy.min_group)
    fingerprint = parsed.fingerprint()
    columns = (*parsed.group_by, *(a.label for a in parsed.aggregates))
    if parsed.dp is None:
        return _release_exact(
            parsed,
            rows,
            compiled.measures,
            columns,
            policy,
            fingerprint,
            budget.remaining(dataset_id) if budget is not None else None,
        )
    assert budget is not None and clamp is not None
    budget.charge(dataset_id, parsed.dp.epsilon, fingerprint)
    return _release_dp(
        parsed, rows, columns, policy, clamp, fingerprint, budget.remaining(dataset_id)
    )


def _release_exact(
    query: AggregateQuery,
    rows: list[tuple[Any, ...]],
    measures: tuple[tuple[str, str], ...],
    columns: tuple[str, ...],
    policy: SandboxPolicy,
    fingerprint: str,
    remaining: float | None,
) -> SandboxResult:
    keys = len(query.group_by)
    index = {measure: keys + 1 + i for i, measure in enumerate(measures)}
    released: list[tuple[Any, ...]] = []
    for row in rows:
        if row[keys] < policy.min_group:
            continue
        values = [
            row[keys] if a.column is None else _number(row[index[(a.fn, a.column)]])
            for a in query.aggregates
        ]
        released.append((*row[:keys], *values))
    return SandboxResult(
        columns=columns,
        rows=tuple(released),
        suppressed_groups=len(rows) - len(released),
        rows_selected=sum(int(row[keys]) for row in rows),
        epsilon_spent=0.0,
        delta_spent=0.0,
        remaining_budget=remaining,
        min_group=policy.min_group,
        noise=None,
        query_fingerprint=fingerprint,
    )


def _release_dp(
    query: AggregateQuery,
    rows: list[tuple[Any, ...]],
    columns: tuple[str, ...],
    policy: SandboxPolicy,
    clamp: Mapping[str, tuple[float, float]],
    fingerprint: str,
    remaining: float,
) -> SandboxResult:
    assert query.dp is not None
    keys = len(query.group_by)
    sum_columns = list(clamp)  # compile_query emits one clamped sum per column, in this order
    needs_count = bool(query.group_by) or any(a.fn in ("count", "mean") for a in query.aggregates)
    epsilon = query.dp.epsilon
    share = epsilon / (int(needs_count) + len(sum_columns))
    split: dict[str, float] = {}
    scales: dict[str, float] = {}
    sensitivity: dict[str, float] = {}
    threshold: int | None = None
    delta = 0.0
    counts: list[int | None]
    if query.group_by:
        scale, threshold = dpm.release_threshold(share, policy.delta, policy.min_group)
        noisy = dpm.noisy_group_counts(
            {str(i): int(row[keys]) for i, row in enumerate(rows)}, scale=scale, threshold=threshold
        )
        kept = sorted(int(k) for k in noisy)
        counts = [noisy[str(i)] for i in kept]
        delta = policy.delta
    else:
        kept = [0]
        scale = dpm.count_scale(share) if needs_count else 0.0
        counts = [max(dpm.noisy_count(int(rows[0][keys]), scale=scale), 0) if needs_count else None]
    if needs_count:
        split["count"], scales["count"], sensitivity["count"] = share, scale, 1.0
    sums: dict[str, list[float]] = {}
    for j, column in enumerate(sum_columns):
        lo, hi = clamp[column]
        delta_sum = dpm.sum_sensitivity(lo, hi)
        sum_scale = dpm.sum_scale(share, delta_sum)
        sums[column] = dpm.noisy_sums([float(rows[i][keys + 1 + j]) for i in kept], scale=sum_scale)
        label = f"sum({column})"
        split[label], scales[label], sensitivity[label] = share, sum_scale, delta_sum
    released: list[tuple[Any, ...]] = []
    for position, i in enumerate(kept):
        count = counts[position]
        values: list[Any] = []
        for aggregate in query.aggregates:
            if aggregate.column is None:
                values.append(count)
                continue
            total = sums[aggregate.column][position]
            if aggregate.fn == "sum":
                values.append(total)
            else:
                lo, hi = clamp[aggregate.column]
                values.append(min(max(total / max(count or 0, 1), lo), hi))
        released.append((*rows[i][:keys], *values))
    noise = {
        "mechanism": dpm.MECHANISM,
        "neighbouring": "add or remove one row (one person)",
        "epsilon": epsilon,
        "delta": delta,
        "epsilon_split": split,
        "scales": scales,
        "sensitivity": sensitivity,
        "release_threshold": threshold,
        "bounds": {column: list(clamp[column]) for column in sum_columns},
    }
    return SandboxResult(
        columns=columns,
        rows=tuple(released),
        suppressed_groups=None,
        rows_selected=None,
        epsilon_spent=epsilon,
        delta_spent=delta,
        remaining_budget=remaining,
        min_group=policy.min_group,
        noise=noise,
        query_fingerprint=fingerprint,
    )
