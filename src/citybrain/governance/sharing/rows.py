"""Row filters of a grant, compiled once into a predicate over record payloads."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

Predicate = Callable[[dict[str, Any]], bool]


def _one(column: str, op: str, value: Any) -> Predicate:
    if op == "in":
        allowed = frozenset(value)
        return lambda row: row.get(column) in allowed
    compare = _OPS[op]

    def check(row: dict[str, Any]) -> bool:
        have = row.get(column)
        if have is None:
            return False  # a missing value never satisfies a condition (not even '!=')
        try:
            return bool(compare(have, value))
        except TypeError:  # e.g. a string compared with a number: not a match
            return False

    return check


def compile_filter(conditions: list[dict[str, Any]]) -> Predicate | None:
    """A predicate that holds when every condition holds; None when there are none."""
    if not conditions:
        return None
    checks = [_one(c["column"], c["op"], c["value"]) for c in conditions]
    if len(checks) == 1:
        return checks[0]
    return lambda row: all(check(row) for check in checks)
