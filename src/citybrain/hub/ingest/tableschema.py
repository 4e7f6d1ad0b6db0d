"""A small, strict validator of Frictionless Table Schema (specs.frictionlessdata.io/table-schema).

Strings (CSV cells) are cast to typed values; typed values (JSON, Parquet) are checked. Every
error names the line, the field and the reason. A schema property that would change how values
are read but is not supported here (``groupChar``, ``decimalChar``, ``bareNumber: false``) is
refused rather than ignored, so nothing is silently misread.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from citybrain.kernel.errors import InvalidInput

TYPES = (
    "string", "integer", "number", "boolean", "date", "datetime", "time", "year", "geopoint",
    "object", "array", "any",
)  # fmt: skip
ORDERED = frozenset({"integer", "number", "date", "datetime", "time", "year"})
SIZED = frozenset({"string", "array", "object"})
STRING_FORMATS = frozenset({"default", "email", "uri", "uuid", "binary"})
UNSUPPORTED = {"groupChar": None, "decimalChar": ".", "bareNumber": True}
TRUE_VALUES = ("true", "True", "TRUE", "1")
FALSE_VALUES = ("false", "False", "FALSE", "0")

_INT = re.compile(r"[+-]?\d+")
_NUM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR = re.compile(r"\d{4}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


class CastError(ValueError):
    """A value that does not fit its field; the message is the reason."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one value: where (line, field) and why."""

    line: int
    field: str
    reason: str

    def message(self) -> str:
        """``line 3, field 'pm25': ...``"""
        return f"line {self.line}, field {self.field!r}: {self.reason}"


Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class FieldSpec:
    """A compiled field: how to cast one value and which constraints to check."""

    name: str
    type: str
    format: str
    required: bool
    unique: bool
    cast: Callable[[Any], Any]
    checks: tuple[Check, ...]
    missing: frozenset[str]


@dataclass(frozen=True)
class TableSchema:
    """A compiled Table Schema descriptor."""

    fields: tuple[FieldSpec, ...]
    primary_key: tuple[str, ...]
    missing_values: frozenset[str]
    descriptor: Mapping[str, Any] = field(repr=False, compare=False)
    name_set: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in schema order."""
        return tuple(f.name for f in self.fields)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _parse_json(value: str, want: type) -> Any:
    try:
        out = json.loads(value)
    except ValueError as exc:
        raise CastError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(out, want):
        raise CastError(f"expected a JSON {want.__name__}, got {_kind(out)}")
    return out


def _string_caster(fmt: str) -> Callable[[Any], Any]:
    def cast(v: Any) -> str:
        if not isinstance(v, str):
            raise CastError(f"expected a string, got {_kind(v)}")
        if fmt == "email" and not _EMAIL.fullmatch(v):
            raise CastError("not an email address")
        if fmt == "uri":
            parts = urlsplit(v)
            if not _SCHEME.fullmatch(parts.scheme or "") or any(c.isspace() for c in v):
                raise CastError("not a URI (scheme:rest, no spaces)")
            if not (parts.netloc or parts.path):
                raise CastError("not a URI (nothing after the scheme)")
        if fmt == "uuid":
            try:
                uuid.UUID(v)
            except ValueError:
                raise CastError("not a UUID") from None
        if fmt == "binary":
            import base64
            import binascii

            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise CastError("not base64") from None
        return v

    return cast


def _cast_integer(v: Any) -> int:
    if isinstance(v, bool):
        raise CastError("expected an integer, got bool")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and _INT.fullmatch(v):
        return int(v)
    raise CastError(f"not an integer: {v!r}")


def _cast_number(v: Any) -> float:
    if type(v) is str and _NUM.fullmatch(v):
        out = float(v)
        if math.isfinite(out):  # "1e999" overflows to infinity
            return out
        raise CastError(f"{v} is too large to store")
    if isinstance(v, bool):
        raise CastError("expected a number, got bool")
    if isinstance(v, int | float | Decimal):
        out = float(v)
    elif isinstance(v, str) and v in ("NaN", "INF", "-INF"):
        raise CastError(f"{v} cannot be stored (JSON has no non-finite numbers)")
    else:
        raise CastError(f"not a number: {v!r}")
    if not math.isfinite(out):
        raise CastError("not a finite number")
    return out


def _boolean_caster(trues: tuple[str, ...], falses: tuple[str, ...]) -> Callable[[Any], Any]:
    def cast(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str):
            if v in trues:
                return True
            if v in falses:
                return False
        raise CastError(f"not a boolean: {v!r} (true values {list(trues)}, false {list(falses)})")

    return cast


def _temporal_caster(kind: str, fmt: str) -> Callable[[Any], Any]:
    py_type = {"date": date, "datetime": datetime, "time": time}[kind]

    def parse(v: str) -> Any:
        if fmt not in ("default", "any"):
            parsed = datetime.strptime(v, fmt)
            return parsed.date() if kind == "date" else parsed.time() if kind == "time" else parsed
        if kind == "date":
            if fmt == "default" and not _DATE.fullmatch(v):
                raise ValueError
            return date.fromisoformat(v)
        if kind == "datetime":
            if fmt == "default" and "T" not in v:
                raise ValueError
            return datetime.fromisoformat(v)
        return time.fromisoformat(v)

    def cast(v: Any) -> Any:
        if isinstance(v, py_type) and not (kind == "date" and isinstance(v, datetime)):
            return v
        if isinstance(v, str):
            try:
                return parse(v)
            except ValueError:
                pass
        shown = f"pattern {fmt}" if fmt not in ("default", "any") else "ISO 8601"
        raise CastError(f"not a {kind} ({shown}): {v!r}")

    return cast


def _cast_year(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and _YEAR.fullmatch(v):
        return int(v)
    raise CastError(f"not a year (yyyy): {v!r}")


def _geopoint_caster(fmt: str) -> Callable[[Any], Any]:
    def pair(lon: Any, lat: Any) -> list[float]:
        try:
            x, y = _cast_number(lon), _cast_number(lat)
        except CastError:
            raise CastError(f"not a geopoint: lon {lon!r}, lat {lat!r}") from None
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise CastError(f"geopoint out of range: lon {x} (±180), lat {y} (±90)")
        return [x, y]

    def cast(v: Any) -> list[float]:
        if isinstance(v, str):
            text = v.strip()
            if fmt == "default" and not text.startswith(("[", "{")):
                parts = text.split(",")
                if len(parts) != 2:
                    raise CastError(f'not a geopoint "lon,lat": {v!r}')
                return pair(parts[0].strip(), parts[1].strip())
            try:
                v = json.loads(text)
            except ValueError:
                raise CastError(f"not a geopoint: {v!r}") from None
        if isinstance(v, list | tuple) and len(v) == 2 and fmt != "object":
            return pair(v[0], v[1])
        if isinstance(v, dict) and set(v) == {"lon", "lat"} and fmt != "array":
            return pair(v["lon"], v["lat"])
        raise CastError(f"not a geopoint ({fmt}): {v!r}")

    return cast


def _container_caster(want: type) -> Callable[[Any], Any]:
    def cast(v: Any) -> Any:
        if isinstance(v, want):
            return v
        if isinstance(v, str):
            return _parse_json(v, want)
        raise CastError(f"expected a JSON {want.__name__}, got {_kind(v)}")

    return cast


def _caster(ftype: str, fmt: str, spec: Mapping[str, Any]) -> Callable[[Any], Any]:
    if ftype == "string":
        return _string_caster(fmt)
    if ftype == "integer":
        return _cast_integer
    if ftype == "number":
        return _cast_number
    if ftype == "boolean":
        trues = tuple(spec.get("trueValues", TRUE_VALUES))
        falses = tuple(spec.get("falseValues", FALSE_VALUES))
        return _boolean_caster(trues, falses)
    if ftype in ("date", "datetime", "time"):
        return _temporal_caster(ftype, fmt)
    if ftype == "year":
        return _cast_year
    if ftype == "geopoint":
        return _geopoint_caster(fmt)
    if ftype == "object":
        return _container_caster(dict)
    if ftype == "array":
        return _container_caster(list)
    return lambda v: v


def _bound_check(name: str, bound: Any, below: bool) -> Check:
    def check(v: Any) -> str | None:
        try:
            bad = v < bound if below else v > bound
        except TypeError:
            return f"cannot compare {v!r} with {name} {bound!r}"
        if not bad:
            return None
        return f"{v!r} is {'below the minimum' if below else 'above the maximum'} {bound!r}"

    return check


def _length_check(key: str, limit: int) -> Check:
    shorter = key == "minLength"

    def check(v: Any) -> str | None:
        bad = len(v) < limit if shorter else len(v) > limit
        return f"length {len(v)} is {'under' if shorter else 'over'} {key} {limit}" if bad else None

    return check


def _constraint_checks(
    ftype: str, constraints: Mapping[str, Any], cast: Callable[[Any], Any], where: str
) -> tuple[Check, ...]:
    checks: list[Check] = []

    def bound(key: str) -> Any:
        try:
            return cast(constraints[key])
        except CastError as exc:
            raise InvalidInput(f"{key}: {exc}", field=f"{where}.constraints.{key}") from None

    for key in ("minimum", "maximum"):
        if key in constraints:
            if ftype not in ORDERED:
                raise InvalidInput(f"{key} does not apply to {ftype}", field=f"{where}.{key}")
            checks.append(_bound_check(key, bound(key), key == "minimum"))
    for key in ("minLength", "maxLength"):
        if key in constraints:
            limit = constraints[key]
            if ftype not in SIZED or not isinstance(limit, int) or limit < 0:
                raise InvalidInput(f"{key} must be a count on string, array or object", field=where)
            checks.append(_length_check(key, limit))
    if "pattern" in constraints:
        if ftype != "string":
            raise InvalidInput("pattern applies to strings only", field=f"{where}.pattern")
        try:
            rx = re.compile(constraints["pattern"])
        except (re.error, TypeError) as exc:
            raise InvalidInput(f"pattern: {exc}", field=f"{where}.pattern") from None
        checks.append(
            lambda v, r=rx: None if r.fullmatch(v) else f"{v!r} does not match {r.pattern!r}"
        )
    if "enum" in constraints:
        raw = constraints["enum"]
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("enum must be a non-empty list", field=f"{where}.enum")
        allowed = [_enum_value(cast, e, where) for e in raw]
        checks.append(lambda v, a=allowed: None if v in a else f"{v!r} is not one of {a!r}")
    return tuple(checks)


def _enum_value(cast: Callable[[Any], Any], value: Any, where: str) -> Any:
    try:
        return cast(value)
    except CastError as exc:
        raise InvalidInput(f"enum value: {exc}", field=f"{where}.constraints.enum") from None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def compile_schema(descriptor: Mapping[str, Any]) -> TableSchema:
    """Check a Table Schema descriptor and compile it; InvalidInput names the bad property."""
    if not isinstance(descriptor, Mapping) or not isinstance(descriptor.get("fields"), list):
        raise InvalidInput("a Table Schema needs a list of fields", field="schema.fields")
    missing_default = descriptor.get("missingValues", [""])
    if not isinstance(missing_default, list) or any(
        not isinstance(m, str) for m in missing_default
    ):
        raise InvalidInput("missingValues must be a list of strings", field="schema.missingValues")
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(descriptor["fields"]):
        where = f"schema.fields[{i}]"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"]:
            raise InvalidInput("each field needs a name", field=f"{where}.name")
        name = raw["name"]
        if name in seen:
            raise InvalidInput(f"field {name!r} appears twice", field=f"{where}.name")
        seen.add(name)
        ftype = raw.get("type", "string")
        if ftype not in TYPES:
            raise InvalidInput(f"unknown type {ftype!r}", field=f"{where}.type")
        fmt = raw.get("format", "default")
        if not isinstance(fmt, str) or (ftype == "string" and fmt not in STRING_FORMATS):
            raise InvalidInput(f"unsupported format {fmt!r} for {ftype}", field=f"{where}.format")
        if ftype == "geopoint" and fmt not in ("default", "array", "object"):
            raise InvalidInput(f"unsupported geopoint format {fmt!r}", field=f"{where}.format")
        for key, default in UNSUPPORTED.items():
            if key in raw and raw[key] != default:
                raise InvalidInput(f"{key} is not supported", field=f"{where}.{key}")
        constraints = raw.get("constraints", {})
        if not isinstance(constraints, Mapping):
            raise InvalidInput("constraints must be an object", field=f"{where}.constraints")
        cast = _caster(ftype, fmt, raw)
        missing = raw.get("missingValues", missing_default)
        specs.append(
            FieldSpec(
                name=name,
                type=ftype,
                format=fmt,
                required=bool(constraints.get("required", False)),
                unique=bool(constraints.get("unique", False)),
                cast=cast,
                checks=_constraint_checks(ftype, constraints, cast, where),
                missing=frozenset(missing),
            )
        )
    pk = descriptor.get("primaryKey", [])
    pk = [pk] if isinstance(pk, str) else pk
    if not isinstance(pk, list) or any(p not in seen for p in pk):
        raise InvalidInput("primaryKey must name fields of the schema", field="schema.primaryKey")
    specs = [
        FieldSpec(s.name, s.type, s.format, True, s.unique, s.cast, s.checks, s.missing)
        if s.name in pk
        else s
        for s in specs
    ]
    names = frozenset(s.name for s in specs)
    return TableSchema(tuple(specs), tuple(pk), frozenset(missing_default), descriptor, names)


def validate_row(
    schema: TableSchema | Mapping[str, Any], row: Mapping[str, Any], line: int
) -> tuple[dict[str, Any], list[FieldError]]:
    """Cast and check one row; returns (typed row, errors). Uniqueness needs a BatchValidator."""
    ts = schema if isinstance(schema, TableSchema) else compile_schema(schema)
    errors: list[FieldError] = []
    unknown = row.keys() - ts.name_set
    if unknown:
        for key in sorted(map(str, unknown)):
            errors.append(FieldError(line, key, "not a field of the schema"))
    out: dict[str, Any] = {}
    get = row.get
    for spec in ts.fields:  # hot loop: kept flat on purpose
        raw = get(spec.name)
        if raw is None or (type(raw) is str and raw in spec.missing):
            out[spec.name] = None
            if spec.required:
                errors.append(FieldError(line, spec.name, "required: the value is missing"))
            continue
        try:
            value = spec.cast(raw)
        except CastError as exc:
            out[spec.name] = None
            errors.append(FieldError(line, spec.name, str(exc)))
            continue
        out[spec.name] = value
        for check in spec.checks:
            reason = check(value)
            if reason:
                errors.append(FieldError(line, spec.name, reason))
                break
    return out, errors


def hashable(value: Any) -> Any:
    """A hashable stand-in for a cast value (objects and arrays as canonical JSON)."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return value


class BatchValidator:
    """Validates the rows of one batch in order, adding ``unique`` and ``primaryKey`` checks."""

    def __init__(self, schema: TableSchema | Mapping[str, Any]) -> None:
        self.schema = schema if isinstance(schema, TableSchema) else compile_schema(schema)
        self._unique = [f.name for f in self.schema.fields if f.unique]
        self._seen: dict[str, dict[Any, int]] = {name: {} for name in self._unique}
        self._keys: dict[tuple[Any, ...], int] = {}

    def validate(
        self, row: Mapping[str, Any], line: int
    ) -> tuple[dict[str, Any], list[FieldError]]:
        """Cast and check ``row`` (found on ``line``); a valid row's unique values are kept."""
        out, errors = validate_row(self.schema, row, line)
        if errors:
            return out, errors
        for name in self._unique:
            value = out[name]
            if value is None:
                continue
            key = hashable(value)
            first = self._seen[name].get(key)
            if first is not None:
                errors.append(FieldError(line, name, f"unique: {value!r} already on line {first}"))
        pk = self.schema.primary_key
        key_t = tuple(hashable(out[p]) for p in pk) if pk else ()
        if pk:
            first = self._keys.get(key_t)
            if first is not None:
                errors.append(
                    FieldError(line, ",".join(pk), f"primaryKey {key_t!r} already on line {first}")
                )
        if not errors:
            for name in self._unique:
                if out[name] is not None:
                    self._seen[name][hashable(out[name])] = line
            if pk:
                self._keys[key_t] = line
        return out, errors


def json_value(value: Any) -> Any:
    """A cast value as JSON (dates and times as ISO 8601 text)."""
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def format_value(spec: FieldSpec, value: Any) -> str:
    """The CSV text of a cast value (the inverse of casting, for the default formats)."""
    if value is None:
        return ""
    if spec.type == "boolean":
        return "true" if value else "false"
    if spec.type == "number":
        return repr(float(value))
    if spec.type == "geopoint":
        return f"{value[0]!r},{value[1]!r}"
    if spec.type in ("object", "array"):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    return str(value)
