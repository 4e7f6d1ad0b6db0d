"""Controlled vocabularies of sharing: purposes, modes, request and grant states, row filters."""

from __future__ import annotations

from typing import Any

from citybrain.kernel.errors import InvalidInput

# Purposes a department may give for a request (the free text says more). zh first.
PURPOSES: dict[str, tuple[str, str]] = {
    "government-service": ("政务服务办理", "Government service (one-network service)"),
    "regulation": ("市场监管与行政执法", "Regulation and law enforcement"),
    "emergency": ("应急处置", "Emergency response"),
    "city-operations": ("城市运行管理", "City operations"),
    "statistics": ("统计分析", "Statistics and analysis"),
    "planning": ("规划与决策", "Planning and decision-making"),
    "public-health": ("公共卫生", "Public health"),
    "research": ("科学研究", "Research"),
}
MODES = ("records", "sandbox")  # rows through masks, or aggregates only (可用不可见)
REQUEST_STATES = ("pending", "approved", "rejected", "lapsed")
GRANT_STATES = ("active", "revoked")
FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in")
MAX_TERM_DAYS = 366
SLA_DAYS = 5  # days a provider has to answer a conditional or legal-basis request
AUTO_APPROVER = "system:unconditional-sharing"


def purpose_code(value: str, field: str = "purpose") -> str:
    """The purpose code, or InvalidInput listing the controlled purposes."""
    if value not in PURPOSES:
        raise InvalidInput(f"unknown purpose {value!r}; one of: {', '.join(PURPOSES)}", field=field)
    return value


def purposes() -> list[dict[str, str]]:
    """The controlled purposes with Chinese and English labels."""
    return [{"code": k, "zh": zh, "en": en} for k, (zh, en) in PURPOSES.items()]


def check_row_filter(
    raw: Any, columns: set[str], field: str = "row_filter"
) -> list[dict[str, Any]]:
    """A row filter as ``[{"column", "op", "value"}]`` over known columns (all must hold)."""
    if not isinstance(raw, list):
        raise InvalidInput("must be a list of conditions", field=field)
    out: list[dict[str, Any]] = []
    for i, cond in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(cond, dict) or set(cond) != {"column", "op", "value"}:
            raise InvalidInput("a condition has exactly column, op and value", field=where)
        if cond["column"] not in columns:
            raise InvalidInput(f"unknown column {cond['column']!r}", field=f"{where}.column")
        if cond["op"] not in FILTER_OPS:
            raise InvalidInput(
                f"unknown operator {cond['op']!r}; one of {' '.join(FILTER_OPS)}",
                field=f"{where}.op",
            )
        value = cond["value"]
        if cond["op"] == "in":
            if not isinstance(value, list) or not value or len(value) > 1000:
                raise InvalidInput("'in' takes a list of 1 to 1000 values", field=f"{where}.value")
            scalars = value
        else:
            scalars = [value]
        for v in scalars:
            if not isinstance(v, str | int | float | bool):
                raise InvalidInput(
                    "values are strings, numbers or booleans", field=f"{where}.value"
                )
        out.append({"column": cond["column"], "op": cond["op"], "value": value})
    return out
