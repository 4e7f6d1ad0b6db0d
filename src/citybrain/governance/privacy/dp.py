"""Differential privacy for the aggregate sandbox, through OpenDP's measurements.

Every noisy number is drawn by calling an OpenDP measurement on the exact value, so the noise
comes from OpenDP's sampler (discrete Laplace underneath, for integers and for floats), and every
noise scale is solved from the measurement's own privacy map (``binary_search_param``), not from a
hand-written formula.

Neighbouring datasets differ by adding or removing one row, and one row is one person.

* counts per group: a person changes one group's count by at most 1, so the released map of
  counts is at ``l01inf`` distance (1, 1, 1) -> ``make_laplace_threshold``, which adds Laplace
  noise and drops every group whose *noisy* count falls below the threshold. Releasing the set of
  groups costs a delta: a group made of one person appears with probability at most delta. The
  threshold is the smallest one that keeps that delta, and never below the sandbox's min_group.
* a count with no group_by: the single total is always released (its key is public), so plain
  ``make_laplace`` on an integer, pure epsilon, delta 0.
* sums per group: values are clamped to the declared bounds [lo, hi]; a person moves one group's
  sum by at most max(|lo|, |hi|) (adding or removing them) and at most hi - lo (changing their
  value), so the sensitivity is the larger of the two and the vector of group sums gets
  ``make_laplace`` over an ``l1_distance``. Groups are disjoint, so one vector release covers all
  groups (parallel composition).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache

import opendp.prelude as dp

_FEATURES_LOCK = threading.Lock()
_features_enabled = False

MECHANISM = f"Laplace (OpenDP {dp.__version__}, discrete sampler)"


def _enable() -> None:
    global _features_enabled
    with _FEATURES_LOCK:
        if not _features_enabled:
            dp.enable_features("contrib")
            _features_enabled = True


def _count_space() -> tuple[dp.Domain, dp.Metric]:
    return dp.atom_domain(T=int), dp.absolute_distance(T=int)


def _count_map_space() -> tuple[dp.Domain, dp.Metric]:
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int))
    return domain, dp.l01inf_distance(dp.absolute_distance(T=int))


def _sum_space() -> tuple[dp.Domain, dp.Metric]:
    return dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)


def sum_sensitivity(lo: float, hi: float) -> float:
    """How far one person can move a clamped sum: max(|lo|, |hi|, hi - lo)."""
    return float(max(abs(lo), abs(hi), hi - lo))


@lru_cache(maxsize=256)
def count_scale(epsilon: float) -> float:
    """The Laplace scale that makes a count (sensitivity 1) epsilon-DP."""
    _enable()
    space = _count_space()
    return float(
        dp.binary_search_param(
            lambda s: dp.m.make_laplace(*space, scale=s), d_in=1, d_out=epsilon, T=float
        )
    )


@lru_cache(maxsize=256)
def sum_scale(epsilon: float, sensitivity: float) -> float:
    """The Laplace scale that makes a vector of disjoint sums (l1 sensitivity) epsilon-DP."""
    _enable()
    space = _sum_space()
    return float(
        dp.binary_search_param(
            lambda s: dp.m.make_laplace(*space, scale=s),
            d_in=sensitivity,
            d_out=epsilon,
            T=float,
        )
    )


_COUNT_MAP_D_IN = (1, 1, 1)  # one person: one group (l0), by 1 (l1 and l-inf)


@lru_cache(maxsize=256)
def release_threshold(epsilon: float, delta: float, min_group: int) -> tuple[float, int]:
    """Scale and threshold for the noisy group counts: (epsilon, delta)-DP, threshold >= min_group.

    Returns ``(scale, threshold)``.
    """
    _enable()
    scale = count_scale(epsilon)
    space = _count_map_space()

    def passes(threshold: int) -> bool:
        measurement = dp.m.make_laplace_threshold(*space, scale=scale, threshold=threshold)
        return bool(measurement.check(_COUNT_MAP_D_IN, (epsilon, delta)))

    floor = max(int(min_group), 1)
    if passes(floor):
        return scale, floor
    threshold = int(dp.binary_search(passes, bounds=(floor, 2**30), T=int))
    if not passes(threshold):  # pragma: no cover - binary_search returns a passing value
        raise RuntimeError("no release threshold meets the privacy target")
    return scale, threshold


def noisy_group_counts(
    counts: Mapping[str, int], *, scale: float, threshold: int
) -> dict[str, int]:
    """Noisy counts of the groups whose noisy count reaches ``threshold`` (the rest dropped)."""
    _enable()
    measurement = dp.m.make_laplace_threshold(*_count_map_space(), scale=scale, threshold=threshold)
    released = measurement({key: int(value) for key, value in counts.items()})
    return {str(key): int(value) for key, value in released.items()}


def noisy_count(count: int, *, scale: float) -> int:
    """One count with Laplace noise (integer support)."""
    _enable()
    return int(dp.m.make_laplace(*_count_space(), scale=scale)(int(count)))


def noisy_sums(sums: Sequence[float], *, scale: float) -> list[float]:
    """Disjoint (already clamped) group sums with Laplace noise, in one release."""
    if not sums:
        return []
    _enable()
    measurement = dp.m.make_laplace(*_sum_space(), scale=scale)
    return [float(value) for value in measurement([float(value) for value in sums])]
