"""The sandbox's query language: a structured aggregate query, parsed from JSON, compiled to
parameterised DuckDB SQL.

Users never send SQL. A SQL string cannot be proved aggregate-only without a full parser and
binder (sub-queries, window functions, ``LIST()``/``STRING_AGG()``, ``ARG_MAX``, CTEs, table
functions that read files...), while this structure can only express "aggregates of allowed
columns, grouped by allowed columns, over rows matching simple conditions". Identifiers are
checked against allow-lists by the sandbox and quoted here; values only ever travel as
parameters, never inside the SQL text.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import t

FUNCTIONS = ("count", "sum", "mean")
OPERATORS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "in": "IN"}
MAX_GROUP_BY = 4
MAX_AGGREGATES = 16
MAX_CONDITIONS = 16
MAX_IN_VALUES = 100
MAX_STRING = 1000
MAX_EPSILON = 10.0

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Aggregate:
    """One aggregate: ``count`` (rows, no column), ``sum`` or ``mean`` of a numeric column."""

    fn: str
    column: str | None = None

    @property
    def label(self) -> str:
        """The result column name: ``count``, ``sum(amount)``, ``mean(age)``."""
        return self.fn if self.column is None else f"{self.fn}({self.column})"


@dataclass(frozen=True)
class Condition:
    """``column op value``; for ``in`` the value is a tuple of scalars."""

    column: str
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class DPSpec:
    """Differential privacy requested for this query: the epsilon it spends."""

    epsilon: float


@dataclass(frozen=True)
class AggregateQuery:
    """A structured aggregate query; build it with :meth:`from_dict`."""

    aggregates: tuple[Aggregate, ...]
    group_by: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()
    dp: DPSpec | None = None

    @classmethod
    def from_dict(cls, data: Any) -> AggregateQuery:
        """Parse and validate a JSON-shaped query; errors name the field (``where[0].op``)."""
        if not isinstance(data, Mapping):
            raise InvalidInput("the query must be a JSON object")
        _no_unknown_keys(data, ("group_by", "aggregates", "where", "dp"), "")
        return cls(
            aggregates=_parse_aggregates(data.get("aggregates")),
            group_by=_parse_group_by(data.get("group_by", [])),
            where=_parse_where(data.get("where", [])),
            dp=_parse_dp(data.get("dp")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The query as JSON-shaped data (the inverse of :meth:`from_dict`)."""
        return {
            "group_by": list(self.group_by),
            "aggregates": [
                {"fn": a.fn} if a.column is None else {"fn": a.fn, "column": a.column}
                for a in self.aggregates
            ],
            "where": [
                {
                    "column": c.column,
                    "op": c.op,
                    "value": list(c.value) if isinstance(c.value, tuple) else c.value,
                }
                for c in self.where
            ],
            "dp": None if self.dp is None else {"epsilon": self.dp.epsilon},
        }

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the query (sorted keys, no spaces)."""
        canonical = json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def columns(self) -> set[str]:
        """Every column the query names."""
        named = set(self.group_by) | {c.column for c in self.where}
        return named | {a.column for a in self.aggregates if a.column is not None}


def _no_unknown_keys(data: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise InvalidInput(f"unknown key {key!r}; allowed: {', '.join(allowed)}", field=where)


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput("a column name (non-empty string) is required", field=field)
    if len(value) > 200:
        raise InvalidInput("column name too long", field=field)
    return value


def _parse_group_by(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput("group_by must be a list of column names", field="group_by")
    if len(value) > MAX_GROUP_BY:
        raise InvalidInput(
            f"at most {MAX_GROUP_BY} group_by columns (got {len(value)})", field="group_by"
        )
    names = tuple(_name(item, f"group_by[{i}]") for i, item in enumerate(value))
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InvalidInput(f"column {name!r} repeated", field=f"group_by[{i}]")
    return names


def _parse_aggregates(value: Any) -> tuple[Aggregate, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidInput("aggregates must be a non-empty list", field="aggregates")
    if len(value) > MAX_AGGREGATES:
        raise InvalidInput(f"at most {MAX_AGGREGATES} aggregates", field="aggregates")
    result: list[Aggregate] = []
    for i, item in enumerate(value):
        field = f"aggregates[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("each aggregate must be an object", field=field)
        _no_unknown_keys(item, ("fn", "column"), field)
        fn = item.get("fn")
        if fn not in FUNCTIONS:
            raise InvalidInput(
                f"unknown aggregate function {fn!r}; allowed: {', '.join(FUNCTIONS)}",
                field=f"{field}.fn",
            )
        column = item.get("column")
        if fn == "count":
            if column is not None:
                raise InvalidInput("count counts rows and takes no column", field=f"{field}.column")
            aggregate = Aggregate("count")
        else:
            aggregate = Aggregate(fn, _name(column, f"{field}.column"))
        if aggregate in result:
            raise InvalidInput(f"aggregate {aggregate.label} repeated", field=field)
        result.append(aggregate)
    return tuple(result)


def _scalar(value: Any, field: str) -> Scalar:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput("value must be a finite number", field=field)
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidInput(f"string value longer than {MAX_STRING} characters", field=field)
        return value
    raise InvalidInput("value must be a string, number or boolean", field=field)


def _parse_where(value: Any) -> tuple[Condition, ...]:
    if not isinstance(value, list):
        raise InvalidInput("where must be a list of conditions", field="where")
    if len(value) > MAX_CONDITIONS:
        raise InvalidInput(f"at most {MAX_CONDITIONS} conditions", field="where")
    result: list[Condition] = []
    for i, item in enumerate(value):
        field = f"where[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("each condition must be an object", field=field)
        _no_unknown_keys(item, ("column", "op", "value"), field)
        column = _name(item.get("column"), f"{field}.column")
        op = item.get("op")
        if not isinstance(op, str) or op not in OPERATORS:
            raise InvalidInput(
                f"unknown operator {op!r}; allowed: {' '.join(OPERATORS)}", field=f"{field}.op"
            )
        if "value" not in item:
            raise InvalidInput("a value is required", field=f"{field}.value")
        raw = item["value"]
        if op == "in":
            if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_IN_VALUES:
                raise InvalidInput(
                    f"'in' needs a list of 1 to {MAX_IN_VALUES} values", field=f"{field}.value"
                )
            parsed: Scalar | tuple[Scalar, ...] = tuple(
                _scalar(v, f"{field}.value[{j}]") for j, v in enumerate(raw)
            )
        else:
            parsed = _scalar(raw, f"{field}.value")
        result.append(Condition(column, op, parsed))
    return tuple(result)


def _parse_dp(value: Any) -> DPSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput('dp must be an object like {"epsilon": 0.5} or null', field="dp")
    _no_unknown_keys(value, ("epsilon",), "dp")
    epsilon = value.get("epsilon")
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise InvalidInput("epsilon must be a number", field="dp.epsilon")
    if not math.isfinite(epsilon) or not 0 < epsilon <= MAX_EPSILON:
        raise InvalidInput(
            f"epsilon must be greater than 0 and at most {MAX_EPSILON:g}", field="dp.epsilon"
        )
    return DPSpec(float(epsilon))


# ------------------------------------------------------------------------------------------
# Refusals and the grant's column checks


class SandboxRefused(InvalidInput):
    """The sandbox refuses a query (422), with a ``reason`` code and a message key.

    The problem body carries ``reason``, ``message_key`` (``sandbox.refused.<...>`` in the
    locale files) and ``params`` for formatting that message in the user's language. Defined
    here, next to the checks that raise it; import it from ``sandbox``.
    """

    problem, title = "sandbox-refused", "Query refused by the sandbox"

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        field: str | None = None,
        message_key: str | None = None,
        **params: Any,
    ) -> None:
        key = message_key or f"sandbox.refused.{reason}"
        super().__init__(detail, field=field, reason=reason, message_key=key, params=params)
        self.reason = reason
        self.message_key = key
        self.params = params

    def message(self, locale: str = "zh-CN") -> str:
        """The refusal in the user's language."""
        return t(self.message_key, locale, **self.params)


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or kind == pa.string_view()


def _refuse_column(column: str, field_path: str, use: str) -> SandboxRefused:
    return SandboxRefused(
        "column_not_allowed",
        f"column {column!r} may not be used for {use} under this grant",
        field=field_path,
        column=column,
    )


def _check_value_type(condition: Condition, kind: pa.DataType, field_path: str) -> None:
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    if _is_numeric(kind):
        ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        expected = "numbers"
    elif _is_text(kind):
        ok = all(isinstance(v, str) for v in values)
        expected = "strings"
    elif pa.types.is_boolean(kind):
        ok = all(isinstance(v, bool) for v in values)
        expected = "booleans"
    elif pa.types.is_temporal(kind):
        ok = all(isinstance(v, str) for v in values)
        expected = "ISO date/time strings"
    else:
        raise InvalidInput(f"cannot filter on a column of type {kind}", field=field_path)
    if not ok:
        raise InvalidInput(
            f"column {condition.column!r} holds {kind}; compare it with {expected}",
            field=f"{field_path}.value",
        )


def check_columns(
    query: AggregateQuery,
    schema: pa.Schema,
    *,
    groupable: Collection[str],
    aggregatable: Collection[str],
    filterable: Collection[str],
) -> None:
    """Check every column the query names against the grant, then against the data.

    Allow-lists come first, so a column outside the grant is refused (``column_not_allowed``)
    whatever it is, even text that is not a column name at all; then the dataset's schema (the
    column exists, aggregated columns are numeric, filter values fit the column's type).
    """
    uses: list[tuple[str, str, str, Collection[str]]] = [
        (c, f"group_by[{i}]", "group_by", groupable) for i, c in enumerate(query.group_by)
    ]
    uses += [
        (a.column, f"aggregates[{i}].column", a.fn, aggregatable)
        for i, a in enumerate(query.aggregates)
        if a.column is not None
    ]
    uses += [
        (c.column, f"where[{i}].column", "where", filterable) for i, c in enumerate(query.where)
    ]
    for column, field_path, use, allowed in uses:
        if column not in allowed:
            raise _refuse_column(column, field_path, use)
    names = set(schema.names)
    for column, field_path, _use, _allowed in uses:
        if column not in names:
            raise InvalidInput(f"column {column!r} is not in the dataset", field=field_path)
    for i, aggregate in enumerate(query.aggregates):
        if aggregate.column is not None and not _is_numeric(schema.field(aggregate.column).type):
            raise SandboxRefused(
                "column_not_numeric",
                f"column {aggregate.column!r} is not numeric; only numbers can be summed or "
                "averaged",
                field=f"aggregates[{i}].column",
                column=aggregate.column,
            )
    for i, condition in enumerate(query.where):
        _check_value_type(condition, schema.field(condition.column).type, f"where[{i}]")


# ------------------------------------------------------------------------------------------
# SQL


def quote_ident(name: str) -> str:
    """A DuckDB quoted identifier (callers have already checked the name against the data)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class CompiledSQL:
    """SQL text with ``?`` placeholders and its parameters.

    Each result row is ``(*group keys, __n, *measures)``; ``measures`` names what each measure
    column holds: ``("sum", col)``/``("mean", col)`` exactly, or ``("clamped_sum", col)``.
    """

    sql: str
    params: tuple[Any, ...]
    measures: tuple[tuple[str, str], ...]


def compile_query(
    query: AggregateQuery, *, clamp: Mapping[str, tuple[float, float]] | None = None
) -> CompiledSQL:
    """Compile to one grouped ``SELECT`` over the view ``data``.

    Without ``clamp``: exact ``SUM``/``AVG`` per aggregate. With ``clamp`` (differential
    privacy): one clamped sum per distinct column, NULL counting as 0 before clamping.
    """
    keys = [quote_ident(k) for k in query.group_by]
    select: list[str] = [*keys, 'COUNT(*) AS "__n"']
    params: list[Any] = []
    measures: list[tuple[str, str]] = []
    if clamp is None:
        for aggregate in query.aggregates:
            if aggregate.column is None:
                continue
            sql_fn = "SUM" if aggregate.fn == "sum" else "AVG"
            select.append(f'{sql_fn}({quote_ident(aggregate.column)}) AS "__m{len(measures)}"')
            measures.append((aggregate.fn, aggregate.column))
    else:
        for column in dict.fromkeys(a.column for a in query.aggregates if a.column is not None):
            assert column is not None
            lo, hi = clamp[column]
            value = f"COALESCE(CAST({quote_ident(column)} AS DOUBLE), 0.0)"
            select.append(f'SUM(LEAST(GREATEST({value}, ?), ?)) AS "__m{len(measures)}"')
            params.extend((float(lo), float(hi)))
            measures.append(("clamped_sum", column))
    sql = f"SELECT {', '.join(select)} FROM data"
    if query.where:
        clauses = []
        for condition in query.where:
            column = quote_ident(condition.column)
            if isinstance(condition.value, tuple):
                marks = ", ".join("?" for _ in condition.value)
                clauses.append(f"{column} IN ({marks})")
                params.extend(condition.value)
            else:
                clauses.append(f"{column} {OPERATORS[condition.op]} ?")
                params.append(condition.value)
        sql += " WHERE " + " AND ".join(clauses)
    if keys:
        positions = ", ".join(str(i + 1) for i in range(len(keys)))
        sql += f" GROUP BY {', '.join(keys)} ORDER BY {positions} NULLS LAST"
    return CompiledSQL(sql, tuple(params), tuple(measures))


_DB_LOCK = threading.Lock()
_db: duckdb.DuckDBPyConnection | None = None


def _database() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process, no file or network access, settings locked."""
    global _db
    with _DB_LOCK:
        if _db is None:
            _db = duckdb.connect(
                ":memory:",
                config={"enable_external_access": False, "lock_configuration": True},
            )
        return _db


def run_sql(table: pa.Table, compiled: CompiledSQL) -> list[tuple[Any, ...]]:
    """Run ``compiled`` with ``table`` as the view ``data``, in a cursor of its own.

    A cursor is a separate connection to the shared in-memory database, so concurrent queries
    never see each other's ``data``. DuckDB errors (a value that does not convert to the
    column's type) surface as :class:`InvalidInput`.
    """
    cursor = _database().cursor()
    try:
        cursor.register("data", table)
        return cursor.execute(compiled.sql, list(compiled.params)).fetchall()
    except (duckdb.ConversionException, duckdb.BinderException) as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInput(f"the query does not fit the data: {first}", field="where") from exc
    finally:
        cursor.close()
