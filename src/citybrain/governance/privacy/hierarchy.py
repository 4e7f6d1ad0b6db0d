"""Generalisation hierarchies for k-anonymity (ARX's model).

A hierarchy maps every original value of a column to one label per level: level 0 is the value
itself, each higher level coarser, and the top level is always ``*``. Every level must be a
function of the one below (the same label at level i always generalises to the same label at
level i+1), which is what makes generalisation monotone.

Sources: ARX's CSV files (one row per original value, columns = levels, ``;``-separated, or
``,`` when a file has no ``;``) named ``<column>.csv`` or ``<dataset>_hierarchy_<column>.csv``
in a directory; or generated from the data: numbers (intervals of doubling width, then ``*``),
dates (YYYY-MM-DD, YYYY-MM, YYYY, decade, ``*``) and, for any other column, ``value`` then ``*``.
Blank cells in generated number and date hierarchies stay blank up to ``*``.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from citybrain.kernel.errors import InvalidInput

TOP = "*"
DEFAULT_BASE_WIDTH = 5
MAX_NUMERIC_LEVELS = 40
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Hierarchy:
    """One column's hierarchy: original value -> labels for levels 0..height (top ``*``)."""

    column: str
    table: Mapping[str, tuple[str, ...]]
    height: int
    source: str = "generated"

    def row(self, value: str) -> tuple[str, ...]:
        """The labels of ``value`` at every level; InvalidInput if the hierarchy lacks it."""
        try:
            return self.table[value]
        except KeyError:
            raise InvalidInput(
                f"column {self.column!r}: value {value!r} is not in its hierarchy ({self.source})",
                field="hierarchies",
                column=self.column,
                value=value,
            ) from None

    def generalise(self, value: str, level: int) -> str:
        """``value`` generalised to ``level``."""
        return self.row(value)[level]


def from_rows(
    column: str,
    rows: Iterable[Sequence[str]],
    *,
    source: str = "generated",
    line_numbers: Sequence[int] | None = None,
) -> Hierarchy:
    """Build and validate a hierarchy from rows ``[value, level1, ..., top]``.

    Adds a ``*`` level when the last level is not all ``*``. Errors name ``source`` and the line.
    """
    rows = [tuple(r) for r in rows]
    lines = list(line_numbers) if line_numbers is not None else list(range(1, len(rows) + 1))
    if not rows:
        raise InvalidInput(f"hierarchy {source} is empty", field="hierarchies", column=column)
    width = len(rows[0])
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise InvalidInput(
                f"hierarchy {source} line {line}: {len(row)} levels, expected {width}",
                field="hierarchies",
                line=line,
            )
    if any(r[-1] != TOP for r in rows):
        rows = [(*r, TOP) for r in rows]
    table: dict[str, tuple[str, ...]] = {}
    parents: list[dict[str, str]] = [{} for _ in range(len(rows[0]) - 1)]
    for row, line in zip(rows, lines, strict=True):
        if row[0] in table:
            if table[row[0]] != row:
                raise InvalidInput(
                    f"hierarchy {source} line {line}: value {row[0]!r} is listed twice "
                    "with different generalisations",
                    field="hierarchies",
                    line=line,
                )
            continue
        for level in range(len(row) - 1):
            seen = parents[level].setdefault(row[level], row[level + 1])
            if seen != row[level + 1]:
                raise InvalidInput(
                    f"hierarchy {source} line {line}: {row[level]!r} at level {level} "
                    f"generalises to both {seen!r} and {row[level + 1]!r}",
                    field="hierarchies",
                    line=line,
                )
        table[row[0]] = row
    return Hierarchy(column, table, len(rows[0]) - 1, source)


def load_arx_csv(path: Path, column: str) -> Hierarchy:
    """Load an ARX hierarchy CSV (``;``-separated, or ``,`` if the file has no ``;``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read hierarchy {path}: {exc}", field="hierarchies") from exc
    delimiter = ";" if ";" in text else ","
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if any(cell == "" for cell in cells):
            raise InvalidInput(
                f"hierarchy {path} line {reader.line_num}: empty label",
                field="hierarchies",
                line=reader.line_num,
            )
        rows.append(cells)
        lines.append(reader.line_num)
    return from_rows(column, rows, source=str(path), line_numbers=lines)


def find_hierarchy_file(directory: Path, column: str) -> Path | None:
    """``<column>.csv`` or ARX's ``<dataset>_hierarchy_<column>.csv`` in ``directory``."""
    exact = directory / f"{column}.csv"
    if exact.is_file():
        return exact
    matches = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.name.endswith(f"_hierarchy_{column}.csv")
    )
    return matches[0] if matches else None


def categorical_hierarchy(column: str, values: Iterable[str]) -> Hierarchy:
    """Level 0 the value, level 1 ``*``."""
    return Hierarchy(column, {v: (v, TOP) for v in set(values)}, 1)


def _number(column: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise InvalidInput(
            f"column {column!r}: value {value!r} is not a number", field="hierarchies"
        )
    return x


def _interval(lo: float, width: float, integral: bool) -> str:
    if integral and lo >= 0:
        return f"{int(lo)}-{int(lo + width - 1)}"
    if integral:
        return f"[{int(lo)}, {int(lo + width - 1)}]"
    return f"[{lo:g}, {lo + width:g})"


def numeric_hierarchy(
    column: str, values: Iterable[str], base_width: float = DEFAULT_BASE_WIDTH
) -> Hierarchy:
    """Intervals of width base, 2*base, 4*base, ... (while they split the values), then ``*``."""
    if not base_width > 0:
        raise InvalidInput("base width must be positive", field="hierarchies")
    distinct = {v for v in values}
    numbers = {v: _number(column, v) for v in distinct if v.strip()}
    integral = all(x.is_integer() for x in numbers.values()) and float(base_width).is_integer()
    widths: list[float] = []
    if numbers:
        lo, hi = min(numbers.values()), max(numbers.values())
        width = float(base_width)
        while math.floor(lo / width) != math.floor(hi / width) and len(widths) < MAX_NUMERIC_LEVELS:
            widths.append(width)
            width *= 2
    table: dict[str, tuple[str, ...]] = {}
    for v in distinct:
        if v in numbers:
            x = numbers[v]
            labels = [_interval(math.floor(x / w) * w, w, integral) for w in widths]
        else:
            labels = [v] * len(widths)
        table[v] = (v, *labels, TOP)
    return Hierarchy(column, table, len(widths) + 1)


def date_hierarchy(column: str, values: Iterable[str]) -> Hierarchy:
    """YYYY-MM-DD -> YYYY-MM -> YYYY -> decade (``1990-1999``) -> ``*``."""
    table: dict[str, tuple[str, ...]] = {}
    for v in set(values):
        if not v.strip():
            table[v] = (v, v, v, v, TOP)
            continue
        if not _DATE.match(v):
            raise InvalidInput(
                f"column {column!r}: value {v!r} is not a YYYY-MM-DD date", field="hierarchies"
            )
        try:
            date.fromisoformat(v)
        except ValueError:
            raise InvalidInput(
                f"column {column!r}: value {v!r} is not a valid date", field="hierarchies"
            ) from None
        decade = int(v[:4]) // 10 * 10
        table[v] = (v, v[:7], v[:4], f"{decade}-{decade + 9}", TOP)
    return Hierarchy(column, table, 4)


def infer_hierarchy(column: str, values: Sequence[str]) -> Hierarchy:
    """Dates, numbers or categories, judged from the non-blank values."""
    filled = {v for v in values if v.strip()}
    if filled and all(_DATE.match(v) for v in filled):
        return date_hierarchy(column, values)
    if filled and all(_is_number(v) for v in filled):
        return numeric_hierarchy(column, values)
    return categorical_hierarchy(column, values)


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def hierarchies_for(
    columns: Mapping[str, Sequence[str]],
    qi: Sequence[str],
    directory: Path | None = None,
) -> dict[str, Hierarchy]:
    """One hierarchy per quasi-identifier: from ``directory`` if it has a file, else generated."""
    if directory is not None and not directory.is_dir():
        raise InvalidInput(f"hierarchy directory {directory} does not exist", field="hierarchies")
    out: dict[str, Hierarchy] = {}
    for name in qi:
        if name not in columns:
            raise InvalidInput(f"unknown quasi-identifier column {name!r}", field="qi")
        path = find_hierarchy_file(directory, name) if directory is not None else None
        out[name] = load_arx_csv(path, name) if path else infer_hierarchy(name, columns[name])
    return out
