"""Validation of a Frictionless Table Schema (https://specs.frictionlessdata.io/table-schema/).

The schema itself is checked (not data): known field types, unique names, constraints that fit
the type, a primary key made of existing fields. Three CityBrain extensions per field: ``pii``
(personal information), ``sensitive_pii`` (sensitive personal information, implies ``pii``) and
``subject`` (the field holds the data subject's resident ID number, so that the citizen can see
who used the record; at most one per schema, implies ``pii``).
Every error is a 422 naming the path, e.g. ``schema.fields.2.type``.
"""

from __future__ import annotations

import re
from typing import Any

from citybrain.kernel.errors import InvalidInput

TYPES = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "datetime",
    "geopoint",
    "object",
    "array",
)
FIELD_KEYS = {
    "name",
    "type",
    "format",
    "title",
    "description",
    "example",
    "constraints",
    "rdfType",
    "pii",
    "sensitive_pii",
    "subject",
}
CONSTRAINT_KEYS = {
    "required",
    "unique",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "enum",
    "pattern",
}
SCHEMA_KEYS = {"fields", "primaryKey", "missingValues", "$schema"}
_NUMERIC = ("integer", "number")
_ORDERED_TEXT = ("date", "datetime")


def _fail(message: str, path: str) -> InvalidInput:
    return InvalidInput(message, field=path)


def _check_bound(value: Any, ftype: str, path: str) -> None:
    if ftype in _NUMERIC:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ftype == "integer":
            ok = ok and float(value).is_integer()
        if not ok:
            raise _fail(f"must be a {ftype} for a field of type {ftype}", path)
    elif ftype in _ORDERED_TEXT:
        if not isinstance(value, str) or not value:
            raise _fail(f"must be an ISO 8601 {ftype} string", path)
    else:
        raise _fail(f"minimum/maximum do not apply to type {ftype}", path)


def _check_constraints(raw: Any, ftype: str, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail("constraints must be an object", path)
    for key in raw:
        if key not in CONSTRAINT_KEYS:
            raise _fail(f"unknown constraint {key!r}", f"{path}.{key}")
    for key in ("required", "unique"):
        if key in raw and not isinstance(raw[key], bool):
            raise _fail("must be true or false", f"{path}.{key}")
    for key in ("minimum", "maximum"):
        if key in raw:
            _check_bound(raw[key], ftype, f"{path}.{key}")
    lo, hi = raw.get("minimum"), raw.get("maximum")
    if lo is not None and hi is not None and type(lo) is type(hi) and lo > hi:
        raise _fail("minimum is greater than maximum", f"{path}.minimum")
    for key in ("minLength", "maxLength"):
        value = raw.get(key)
        if key in raw and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise _fail("must be a non-negative integer", f"{path}.{key}")
    if "enum" in raw:
        enum = raw["enum"]
        if not isinstance(enum, list) or not enum:
            raise _fail("enum must be a non-empty list", f"{path}.enum")
        if len({repr(v) for v in enum}) != len(enum):
            raise _fail("enum values must be unique", f"{path}.enum")
    if "pattern" in raw:
        if ftype != "string":
            raise _fail("pattern applies to string fields only", f"{path}.pattern")
        if not isinstance(raw["pattern"], str):
            raise _fail("pattern must be a string", f"{path}.pattern")
        try:
            re.compile(raw["pattern"])
        except re.error as exc:
            raise _fail(f"not a valid regular expression: {exc}", f"{path}.pattern") from exc
    return dict(raw)


def _check_field(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail("a field must be an object", path)
    for key in raw:
        if key not in FIELD_KEYS:
            raise _fail(f"unknown field property {key!r}", f"{path}.{key}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail("a field needs a non-empty name", f"{path}.name")
    ftype = raw.get("type", "string")
    if ftype not in TYPES:
        raise _fail(f"{ftype!r} is not one of {', '.join(TYPES)}", f"{path}.type")
    out: dict[str, Any] = {"name": name, "type": ftype}
    for key in ("format", "title", "description", "rdfType"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise _fail("must be a string", f"{path}.{key}")
            out[key] = raw[key]
    if "example" in raw:
        out["example"] = raw["example"]
    if "constraints" in raw:
        out["constraints"] = _check_constraints(raw["constraints"], ftype, f"{path}.constraints")
    for key in ("pii", "sensitive_pii", "subject"):
        if key in raw and not isinstance(raw[key], bool):
            raise _fail("must be true or false", f"{path}.{key}")
    sensitive = bool(raw.get("sensitive_pii", False))
    subject = bool(raw.get("subject", False))
    if (sensitive or subject) and raw.get("pii") is False:
        raise _fail("this field holds personal information", f"{path}.pii")
    if subject and ftype != "string":
        raise _fail("a resident ID number is a string", f"{path}.type")
    if sensitive or subject or raw.get("pii"):
        out["pii"] = True
    if sensitive:
        out["sensitive_pii"] = True
    if subject:
        out["subject"] = True
    return out


def validate_table_schema(raw: Any, path: str = "schema") -> dict[str, Any]:
    """Check a Table Schema and return its normalised form (default types filled in)."""
    if not isinstance(raw, dict):
        raise _fail("the schema must be a Table Schema object", path)
    for key in raw:
        if key not in SCHEMA_KEYS:
            raise _fail(f"unknown schema property {key!r}", f"{path}.{key}")
    fields = raw.get("fields")
    if not isinstance(fields, list) or not fields:
        raise _fail("a schema needs a non-empty list of fields", f"{path}.fields")
    out_fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, raw_field in enumerate(fields):
        field = _check_field(raw_field, f"{path}.fields.{i}")
        if field["name"] in seen:
            raise _fail(f"duplicate field name {field['name']!r}", f"{path}.fields.{i}.name")
        seen.add(field["name"])
        if field.get("subject") and any(f.get("subject") for f in out_fields):
            raise _fail("only one field holds the data subject", f"{path}.fields.{i}.subject")
        out_fields.append(field)
    out: dict[str, Any] = {"fields": out_fields}
    if "primaryKey" in raw:
        pk = raw["primaryKey"]
        keys = [pk] if isinstance(pk, str) else pk
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise _fail("primaryKey must be a field name or a list of them", f"{path}.primaryKey")
        for k in keys:
            if k not in seen:
                raise _fail(f"primaryKey names unknown field {k!r}", f"{path}.primaryKey")
        if len(set(keys)) != len(keys):
            raise _fail("primaryKey repeats a field", f"{path}.primaryKey")
        out["primaryKey"] = pk
    if "missingValues" in raw:
        mv = raw["missingValues"]
        if not isinstance(mv, list) or not all(isinstance(v, str) for v in mv):
            raise _fail("missingValues must be a list of strings", f"{path}.missingValues")
        out["missingValues"] = mv
    if "$schema" in raw:
        out["$schema"] = raw["$schema"]
    return out


def subject_field(schema: dict[str, Any]) -> str | None:
    """The field holding the data subject's resident ID number, if the schema names one."""
    return next((f["name"] for f in schema.get("fields", []) if f.get("subject")), None)


def pii_fields(schema: dict[str, Any]) -> list[tuple[int, str]]:
    """(index, name) of fields flagged as personal information."""
    return [(i, f["name"]) for i, f in enumerate(schema.get("fields", [])) if f.get("pii")]


def validate_json_schema(raw: Any, path: str = "schema") -> dict[str, Any]:
    """A light check that ``raw`` looks like a JSON Schema object (type names are known)."""
    if not isinstance(raw, dict) or not raw:
        raise _fail("a JSON Schema must be a non-empty object", path)
    kinds = ("object", "array", "string", "number", "integer", "boolean", "null")
    declared = raw.get("type")
    names = declared if isinstance(declared, list) else [declared] if declared else []
    for name in names:
        if name not in kinds:
            raise _fail(f"{name!r} is not a JSON Schema type", f"{path}.type")
    if "properties" in raw and not isinstance(raw["properties"], dict):
        raise _fail("properties must be an object", f"{path}.properties")
    return raw
