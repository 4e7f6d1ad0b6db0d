"""Per-field masks of a sharing grant (like Apache Ranger's column masks), compiled for speed.

Kinds and what they show (``None`` stays ``None`` under every kind):

``MASK``
    Character by character, so the format survives and nothing else does: ASCII ``A-Z`` and
    other upper/title-case letters -> ``X``, lower-case letters -> ``x``, decimal digits (any
    script) -> ``n``, ASCII punctuation and ASCII whitespace kept (``@ . - /`` show the shape
    of e-mails, phones and dates, as Ranger keeps "other characters"), everything else - CJK
    characters, uncased letters, non-ASCII punctuation, symbols, emoji - -> ``*``. Length is
    kept. A value already made only of ``x X *`` and ASCII punctuation/whitespace masks to
    itself: it carries no information beyond that shape.
``SHOW_LAST_4``
    ``*`` for all but the last four characters; a value of four characters or fewer is all
    ``*`` (otherwise it would be shown whole).
``HASH``
    Keyed BLAKE2b (``hashlib.blake2b(key=salt, digest_size=16)``, 32 hex characters) with the
    grant's salt (at least 16 bytes; a salt over 64 bytes is first hashed to 64). Keyed BLAKE2
    is a MAC by design and measured ~3x faster here than HMAC-SHA256 (0.55 vs 1.7 us a value
    with a precomputed, copied key state). Grants have different salts, so their hashes do not
    join. ``42`` and ``"42"`` hash alike; lists and dicts hash their canonical JSON.
``NULL``
    Always ``None``.
``YEAR_ONLY``
    ``date``/``datetime`` and date strings (``2024-05-01``, ``2024/5/1``, ``2024-05``,
    ``20240501``, ISO datetimes, ``2024年5月1日``) -> the year as ``int``; an 18-digit (or old
    15-digit) resident ID number -> the birth year. Anything else - numbers included, whose
    unit is unknown, and a bare ``"1990"`` - -> ``None``, never the raw value.
``GENERALIZE``
    Either a ``hierarchy`` (value -> generalised value; an unknown value -> ``"*"``) or an
    integer ``width`` >= 2 (a number or numeric string -> ``"30-39"`` for 35 and width 10, i.e.
    the interval [30, 40); anything non-numeric -> ``"*"``).
``NONE``
    The field is granted unmasked (``SHOW`` is accepted as another name).

Non-string values: booleans mask to ``"****"`` under MASK and SHOW_LAST_4 (their length would
tell True from False); lists, dicts, sets and bytes become ``None`` under MASK, SHOW_LAST_4
and YEAR_ONLY and ``"*"`` under GENERALIZE (HASH hashes their canonical JSON); other scalars
(numbers, decimals, dates) are masked as ``str(value)``.

Speed: each mask compiles to one plain function; ``MaskPlan.apply_rows`` maps it over a column
at a time. Per value that costs ~0.2 us (SHOW_LAST_4), ~0.35 us (MASK of a name), ~0.65 us
(HASH); rebuilding the projected row dicts costs about as much as building them did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import repeat
from typing import Any

from citybrain.kernel.errors import InvalidInput

MIN_SALT_BYTES = 16
HASH_HEX_CHARS = 32
BOOL_MASK = "****"
UNKNOWN = "*"  # what GENERALIZE shows for a value it cannot place

_CONTAINERS = (dict, list, tuple, set, frozenset, bytes, bytearray)
_KEEP = frozenset(
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\r\x0b\x0c"
)  # ASCII punctuation and whitespace


class MaskKind(StrEnum):
    """How a granted field is shown."""

    MASK = "MASK"
    SHOW_LAST_4 = "SHOW_LAST_4"
    HASH = "HASH"
    NULL = "NULL"
    YEAR_ONLY = "YEAR_ONLY"
    GENERALIZE = "GENERALIZE"
    NONE = "NONE"


_ALIASES = {"SHOW": MaskKind.NONE}


def mask_kind(name: Any) -> MaskKind:
    """The mask kind called ``name`` (case-insensitive), or InvalidInput(field="mask")."""
    if isinstance(name, MaskKind):
        return name
    if isinstance(name, str):
        key = name.strip().upper()
        if key in _ALIASES:
            return _ALIASES[key]
        try:
            return MaskKind(key)
        except ValueError:
            pass
    kinds = ", ".join(k.value for k in MaskKind)
    raise InvalidInput(f"unknown mask kind {name!r}; one of {kinds}", field="mask")


class _MaskTable(dict):
    """A ``str.translate`` table filled on first sight of each character."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch in _KEEP:
            out = ch
        elif ch.isdecimal():
            out = "n"
        elif ch.isupper() or ch.istitle():
            out = "X"
        elif ch.islower():
            out = "x"
        else:
            out = "*"
        if len(self) < 65536:
            self[code] = out
        return out


_MASK_TABLE = _MaskTable()


def _mask_text(text: str) -> str:
    return text.translate(_MASK_TABLE)


def _last4_text(text: str) -> str:
    n = len(text)
    return "*" * n if n <= 4 else "*" * (n - 4) + text[-4:]


def _not_text(value: Any, text_fn: Callable[[str], str]) -> Any:
    """MASK or SHOW_LAST_4 of a value that is not a ``str``: safe whatever it is."""
    if value is None or isinstance(value, _CONTAINERS):
        return None
    if isinstance(value, bool):
        return BOOL_MASK
    return text_fn(str(value))


def _mask(value: Any) -> Any:
    if value.__class__ is str:
        return value.translate(_MASK_TABLE)
    return _not_text(value, _mask_text)


def _last4(value: Any) -> Any:
    if value.__class__ is str:
        n = len(value)
        return "*" * n if n <= 4 else "*" * (n - 4) + value[-4:]
    return _not_text(value, _last4_text)


def _hash_key(salt: bytes) -> bytes:
    return salt if len(salt) <= 64 else hashlib.blake2b(salt).digest()


def _hasher(salt: bytes) -> Callable[[Any], Any]:
    base = hashlib.blake2b(key=_hash_key(salt), digest_size=HASH_HEX_CHARS // 2)

    def apply(value: Any) -> Any:
        if value.__class__ is not str:
            if value is None:
                return None
            if isinstance(value, _CONTAINERS):
                if isinstance(value, bytes | bytearray):
                    value = value.hex()
                else:
                    value = json.dumps(
                        value, sort_keys=True, ensure_ascii=False, default=str, separators=",:"
                    )
            else:
                value = str(value)
        h = base.copy()
        h.update(value.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    return apply


_ID18 = re.compile(r"\d{17}[\dXx]")
_ID15 = re.compile(r"\d{15}")
_DATE = re.compile(
    r"(\d{4})(?:([-/.])(\d{1,2})(?:\2(\d{1,2}))?|年(\d{1,2})月(?:(\d{1,2})日)?|(\d{2})(\d{2}))"
    r"(?:[T\s]\d{1,2}:\d{2}.*)?",
    re.S,
)


def _year_of(year: str, month: str, day: str | None) -> int | None:
    try:
        return dt.date(int(year), int(month), int(day) if day else 1).year
    except ValueError:
        return None


def _year_of_text(text: str) -> int | None:
    s = text.strip()
    if len(s) >= 10 and s[4] == "-" and s[7] == "-":  # the common ISO forms, in C
        try:
            if len(s) == 10:
                return dt.date.fromisoformat(s).year
            if s[10] in "T ":
                return dt.datetime.fromisoformat(s).year
        except ValueError:
            pass
    if _ID18.fullmatch(s):
        return _year_of(s[6:10], s[10:12], s[12:14])
    if _ID15.fullmatch(s):
        return _year_of("19" + s[6:8], s[8:10], s[10:12])
    m = _DATE.fullmatch(s)
    if m is None:
        return None
    year, _, m1, d1, m2, d2, m3, d3 = m.groups()
    return _year_of(year, m1 or m2 or m3, d1 or d2 or d3)


def _year_only(value: Any) -> Any:
    if value.__class__ is str:
        return _year_of_text(value)
    if isinstance(value, dt.date):  # datetime is a date too
        return value.year
    return None


def _generalizer(hierarchy: Mapping[str, Any] | None, width: int | None) -> Callable[[Any], Any]:
    if hierarchy is not None:
        table = dict(hierarchy)

        def by_hierarchy(value: Any) -> Any:
            if value.__class__ is str:
                return table.get(value, UNKNOWN)
            if value is None:
                return None
            if isinstance(value, _CONTAINERS):
                return UNKNOWN
            return table.get(str(value), UNKNOWN)

        return by_hierarchy
    assert width is not None

    def by_width(value: Any) -> Any:
        if value is None:
            return None
        cls = value.__class__
        if cls is int:
            low = value // width * width
        else:
            if cls is str:
                try:
                    value = float(value)
                except ValueError:
                    return UNKNOWN
            elif cls is not float and not isinstance(value, int | float):
                return UNKNOWN
            if isinstance(value, bool) or not math.isfinite(value):
                return UNKNOWN
            low = math.floor(value / width) * width
        return f"{low}-{low + width - 1}"

    return by_width


def _null(value: Any) -> None:
    return None


def _check_hierarchy(hierarchy: Any) -> dict[str, Any]:
    if not isinstance(hierarchy, Mapping) or not hierarchy:
        raise InvalidInput("GENERALIZE hierarchy is a non-empty mapping", field="mask")
    for key, target in hierarchy.items():
        if not isinstance(key, str):
            raise InvalidInput("GENERALIZE hierarchy keys are strings", field="mask")
        if target is not None and not isinstance(target, str | int | float):
            raise InvalidInput("GENERALIZE hierarchy values are strings or numbers", field="mask")
    return dict(hierarchy)


@dataclass(frozen=True, slots=True)
class FieldMask:
    """One field's mask: ``kind`` plus its parameters (``salt`` for HASH, ``hierarchy`` or
    ``width`` for GENERALIZE). Validated on construction (InvalidInput, field="mask")."""

    kind: MaskKind
    salt: bytes | None = field(default=None, repr=False)
    hierarchy: Mapping[str, Any] | None = None
    width: int | None = None
    fn: Callable[[Any], Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = mask_kind(self.kind)
        object.__setattr__(self, "kind", kind)
        if isinstance(self.salt, str):
            object.__setattr__(self, "salt", self.salt.encode("utf-8"))
        object.__setattr__(self, "fn", self._compile(kind))

    def _compile(self, kind: MaskKind) -> Callable[[Any], Any] | None:
        if kind is MaskKind.HASH:
            if not isinstance(self.salt, bytes | bytearray) or len(self.salt) < MIN_SALT_BYTES:
                raise InvalidInput(
                    f"HASH needs a salt of at least {MIN_SALT_BYTES} bytes", field="mask"
                )
            return _hasher(bytes(self.salt))
        if kind is MaskKind.GENERALIZE:
            if (self.hierarchy is None) == (self.width is None):
                raise InvalidInput(
                    "GENERALIZE needs exactly one of hierarchy or width", field="mask"
                )
            if self.hierarchy is not None:
                object.__setattr__(self, "hierarchy", _check_hierarchy(self.hierarchy))
            elif isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 2:
                raise InvalidInput("GENERALIZE width is an integer of at least 2", field="mask")
            return _generalizer(self.hierarchy, self.width)
        if self.hierarchy is not None or self.width is not None:
            raise InvalidInput(f"{kind.value} takes no hierarchy or width", field="mask")
        return {
            MaskKind.MASK: _mask,
            MaskKind.SHOW_LAST_4: _last4,
            MaskKind.NULL: _null,
            MaskKind.YEAR_ONLY: _year_only,
            MaskKind.NONE: None,
        }[kind]

    def apply(self, value: Any) -> Any:
        """The value as this mask shows it."""
        return value if self.fn is None else self.fn(value)

    def to_spec(self) -> str | dict[str, Any]:
        """The JSON-ish spec of this mask (never the salt)."""
        if self.kind is not MaskKind.GENERALIZE:
            return self.kind.value
        if self.hierarchy is not None:
            return {"kind": self.kind.value, "hierarchy": dict(self.hierarchy)}
        return {"kind": self.kind.value, "width": self.width}


@dataclass(frozen=True, slots=True)
class MaskPlan:
    """Field name -> mask. A masked row holds exactly the plan's fields, in plan order (a field
    missing from the row comes out as ``None``); fields not in the plan are dropped."""

    masks: Mapping[str, FieldMask]
    _ops: tuple[tuple[str, Callable[[Any], Any] | None], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", dict(self.masks))
        object.__setattr__(self, "_ops", tuple((n, m.fn) for n, m in self.masks.items()))

    @property
    def fields(self) -> list[str]:
        """The granted field names, in order."""
        return list(self.masks)

    def apply_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One row as the grant shows it."""
        get = row.get
        return {n: get(n) if fn is None else fn(get(n)) for n, fn in self._ops}

    def apply_rows(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Many rows, masked column by column (one C-level ``map`` per field, no per-value
        dispatch on the kind)."""
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows or not self._ops:
            return [{} for _ in rows]
        plain = all(row.__class__ is dict for row in rows)
        names = tuple(n for n, _ in self._ops)
        columns: list[Iterable[Any]] = []
        for name, fn in self._ops:
            if fn is _null:
                columns.append(repeat(None, len(rows)))
                continue
            values = map(dict.get, rows, repeat(name)) if plain else [r.get(name) for r in rows]
            columns.append(values if fn is None else map(fn, values))
        return [dict(zip(names, values)) for values in zip(*columns)]  # noqa: B905


def _field_mask(name: str, spec: Any, salt: bytes | str | None) -> FieldMask:
    if isinstance(spec, str | MaskKind):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise InvalidInput(f"{name}: a mask is a kind name or an object with 'kind'", field="mask")
    extra = set(spec) - {"kind", "hierarchy", "width"}
    if extra:  # the salt is the grant's, never the spec's
        raise InvalidInput(f"{name}: unknown mask parameter(s) {sorted(extra)}", field="mask")
    kind = mask_kind(spec["kind"])
    return FieldMask(
        kind,
        salt=salt if kind is MaskKind.HASH else None,
        hierarchy=spec.get("hierarchy"),
        width=spec.get("width"),
    )


def parse_mask_spec(
    spec: Mapping[str, str | Mapping[str, Any]], salt: bytes | str | None = None
) -> MaskPlan:
    """A plan from ``{"name": "MASK", "age": {"kind": "GENERALIZE", "width": 10}, ...}``;
    ``salt`` (the grant's, >= 16 bytes) keys every HASH. Bad specs raise InvalidInput."""
    if not isinstance(spec, Mapping):
        raise InvalidInput("masks are an object: field -> mask", field="mask")
    masks: dict[str, FieldMask] = {}
    for name, item in spec.items():
        if not isinstance(name, str) or not name:
            raise InvalidInput("a masked field name is a non-empty string", field="mask")
        try:
            masks[name] = _field_mask(name, item, salt)
        except InvalidInput as exc:
            detail = exc.detail if exc.detail.startswith(f"{name}:") else f"{name}: {exc.detail}"
            raise InvalidInput(detail, field="mask") from exc
    return MaskPlan(masks)
