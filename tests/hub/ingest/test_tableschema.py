"""The Table Schema validator: casting, constraints, errors naming line and field; properties."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.hub.ingest.tableschema import (
    BatchValidator,
    FieldSpec,
    compile_schema,
    format_value,
    validate_row,
)
from citybrain.kernel.errors import InvalidInput

SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string", "constraints": {"minLength": 1, "maxLength": 20}},
        {"name": "email", "type": "string", "format": "email"},
        {"name": "site", "type": "string", "format": "uri"},
        {"name": "uid", "type": "string", "format": "uuid"},
        {"name": "pm25", "type": "number", "constraints": {"minimum": 0, "maximum": 1000}},
        {"name": "ok", "type": "boolean"},
        {"name": "day", "type": "date", "constraints": {"minimum": "2000-01-01"}},
        {"name": "at", "type": "datetime"},
        {"name": "tod", "type": "time"},
        {"name": "year", "type": "year"},
        {"name": "where", "type": "geopoint"},
        {"name": "extra", "type": "object"},
        {"name": "tags", "type": "array"},
        {"name": "grade", "type": "string", "constraints": {"enum": ["核心", "重要", "一般"]}},
        {"name": "code", "type": "string", "constraints": {"pattern": "[A-Z]{2}[0-9]{3}"}},
    ],
    "primaryKey": ["id"],
    "missingValues": ["", "NA"],
}

GOOD_CSV = {
    "id": "7",
    "name": "西湖站",
    "email": "a@b.cn",
    "site": "https://example.org/x",
    "uid": "12345678-1234-5678-1234-567812345678",
    "pm25": "35.5",
    "ok": "true",
    "day": "2024-05-01",
    "at": "2024-05-01T08:00:00+08:00",
    "tod": "08:30:00",
    "year": "2024",
    "where": "120.15, 30.28",
    "extra": '{"a": 1}',
    "tags": '["x", "y"]',
    "grade": "重要",
    "code": "AB123",
}


def test_csv_strings_are_cast() -> None:
    row, errors = validate_row(SCHEMA, GOOD_CSV, 2)
    assert errors == []
    assert row["id"] == 7 and row["pm25"] == 35.5 and row["ok"] is True
    assert row["day"] == date(2024, 5, 1) and row["tod"] == time(8, 30)
    assert isinstance(row["at"], datetime) and row["at"].utcoffset() is not None
    assert (
        row["where"] == [120.15, 30.28] and row["extra"] == {"a": 1} and row["tags"] == ["x", "y"]
    )
    assert row["year"] == 2024


def test_typed_json_values_are_checked() -> None:
    typed = dict(GOOD_CSV, id=7, pm25=35, ok=False, year=2024, where=[120.1, 30.2])
    typed["extra"], typed["tags"] = {"b": 2}, [1]
    row, errors = validate_row(SCHEMA, typed, 1)
    assert errors == [] and row["pm25"] == 35.0 and row["where"] == [120.1, 30.2]
    _, errors = validate_row(SCHEMA, dict(typed, id=True), 4)
    assert [(e.line, e.field) for e in errors] == [(4, "id")]
    _, errors = validate_row(SCHEMA, dict(typed, pm25="35"), 4)
    assert errors == []  # a number written as text is read as a number


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("id", "7.5", "not an integer"),
        ("name", "x" * 21, "over maxLength"),
        ("email", "nope", "not an email"),
        ("site", "no scheme", "not a URI"),
        ("uid", "123", "not a UUID"),
        ("pm25", "-1", "below the minimum"),
        ("pm25", "1e9", "above the maximum"),
        ("pm25", "NaN", "cannot be stored"),
        ("pm25", "1e999", "too large"),
        ("ok", "yes", "not a boolean"),
        ("day", "2024-13-01", "not a date"),
        ("day", "1999-12-31", "below the minimum"),
        ("at", "2024-05-01", "not a datetime"),
        ("tod", "25:00", "not a time"),
        ("year", "24", "not a year"),
        ("where", "200,10", "out of range"),
        ("where", "abc", "not a geopoint"),
        ("extra", "[1]", "expected a JSON dict"),
        ("tags", "{", "not valid JSON"),
        ("grade", "普通", "is not one of"),
        ("code", "ab123", "does not match"),
        ("id", "NA", "required"),
    ],
)
def test_bad_values_name_line_field_and_reason(field: str, value: str, why: str) -> None:
    _, errors = validate_row(SCHEMA, dict(GOOD_CSV, **{field: value}), 9)
    assert len(errors) == 1, errors
    assert errors[0].line == 9 and errors[0].field == field and why in errors[0].reason
    assert f"line 9, field '{field}'" in errors[0].message()


def test_missing_values_and_unknown_fields() -> None:
    row, errors = validate_row(SCHEMA, dict(GOOD_CSV, pm25="NA", name=""), 3)
    assert errors == [] and row["pm25"] is None and row["name"] is None
    _, errors = validate_row(SCHEMA, dict(GOOD_CSV, colour="red"), 3)
    assert [(e.field, e.reason) for e in errors] == [("colour", "not a field of the schema")]


def test_unique_and_primary_key_within_the_batch() -> None:
    schema = {
        "fields": [
            {"name": "a", "type": "integer"},
            {"name": "b", "type": "string", "constraints": {"unique": True}},
        ],
        "primaryKey": "a",
    }
    v = BatchValidator(schema)
    assert v.validate({"a": "1", "b": "x"}, 2)[1] == []
    errs = v.validate({"a": "1", "b": "y"}, 3)[1]
    assert [(e.field, "line 2" in e.reason) for e in errs] == [("a", True)]
    errs = v.validate({"a": "2", "b": "x"}, 4)[1]
    assert [(e.field, "already on line 2" in e.reason) for e in errs] == [("b", True)]
    assert v.validate({"a": "3", "b": ""}, 5)[1] == []  # missing values are not compared


@pytest.mark.parametrize(
    ("descriptor", "field"),
    [
        ({}, "schema.fields"),
        ({"fields": [{"name": "a", "type": "money"}]}, "schema.fields[0].type"),
        ({"fields": [{"name": "a"}, {"name": "a"}]}, "schema.fields[1].name"),
        ({"fields": [{"name": "a", "format": "phone"}]}, "schema.fields[0].format"),
        (
            {"fields": [{"name": "a", "type": "number", "groupChar": ","}]},
            "schema.fields[0].groupChar",
        ),
        ({"fields": [{"name": "a"}], "primaryKey": ["b"]}, "schema.primaryKey"),
        ({"fields": [{"name": "a", "constraints": {"pattern": "("}}]}, "schema.fields[0].pattern"),
        (
            {"fields": [{"name": "a", "type": "integer", "constraints": {"enum": ["x"]}}]},
            "schema.fields[0].constraints.enum",
        ),
    ],
)
def test_bad_schemas_are_refused_naming_the_property(
    descriptor: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        compile_schema(descriptor)
    assert err.value.field == field


def test_custom_date_format_and_boolean_values() -> None:
    schema = {
        "fields": [
            {"name": "d", "type": "date", "format": "%d/%m/%Y"},
            {"name": "b", "type": "boolean", "trueValues": ["是"], "falseValues": ["否"]},
        ]
    }
    row, errors = validate_row(schema, {"d": "31/01/2024", "b": "是"}, 2)
    assert errors == [] and row == {"d": date(2024, 1, 31), "b": True}
    _, errors = validate_row(schema, {"d": "2024-01-31", "b": "true"}, 2)
    assert [e.field for e in errors] == ["d", "b"]


# --- properties ----------------------------------------------------------------------------

PROP_SCHEMA = compile_schema(
    {
        "fields": [
            {"name": "s", "type": "string"},
            {"name": "i", "type": "integer"},
            {"name": "n", "type": "number"},
            {"name": "b", "type": "boolean"},
            {"name": "d", "type": "date"},
            {"name": "t", "type": "time"},
            {"name": "dt", "type": "datetime"},
            {"name": "y", "type": "year"},
            {"name": "g", "type": "geopoint"},
            {"name": "o", "type": "object"},
            {"name": "a", "type": "array"},
        ]
    }
)
SPECS: dict[str, FieldSpec] = {f.name: f for f in PROP_SCHEMA.fields}
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
json_scalar = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=5)
VALUES = {
    "s": st.text(min_size=1).filter(lambda s: s != ""),
    "i": st.integers(),
    "n": finite,
    "b": st.booleans(),
    "d": st.dates(min_value=date(1000, 1, 1)),
    "t": st.times(),
    "dt": st.datetimes(min_value=datetime(1000, 1, 1)),
    "y": st.integers(1000, 9999),
    "g": st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(list),
    "o": st.dictionaries(st.text(max_size=5), json_scalar, max_size=3),
    "a": st.lists(json_scalar, max_size=3),
}
rows = st.fixed_dictionaries(VALUES)


@given(rows)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_valid_typed_rows_pass_and_their_csv_text_casts_back(row: dict[str, Any]) -> None:
    cast, errors = validate_row(PROP_SCHEMA, row, 2)
    assert errors == []
    text = {name: format_value(SPECS[name], value) for name, value in cast.items()}
    again, errors = validate_row(PROP_SCHEMA, text, 2)
    assert errors == []
    assert again == cast


BAD = {
    "i": st.sampled_from(["1.5", "x", "1e3"]) | st.floats(),
    "n": st.sampled_from(["abc", "1,5", "NaN"]) | st.booleans(),
    "b": st.sampled_from(["yes", "2", "T"]) | st.integers(),
    "d": st.sampled_from(["2024-02-30", "20240101x", "01/02/2024"]),
    "t": st.sampled_from(["24:00:00", "noon"]),
    "dt": st.sampled_from(["2024-01-01", "yesterday"]),
    "y": st.sampled_from(["24", "20245", "year"]),
    "g": st.sampled_from(["181,0", "0,91", "1", "[1,2,3]"]),
    "o": st.sampled_from(["[]", "{", "3"]) | st.lists(st.integers(), max_size=2),
    "a": st.sampled_from(["{}", "[", "x"]) | st.integers(),
    "s": st.integers() | st.booleans(),
}


@given(rows, st.sampled_from(sorted(BAD)), st.data(), st.integers(1, 10**6))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_a_mutated_value_fails_naming_that_field(
    row: dict[str, Any], field: str, data: st.DataObject, line: int
) -> None:
    bad = data.draw(BAD[field])
    mutated = dict(row, **{field: bad})
    _, errors = validate_row(PROP_SCHEMA, mutated, line)
    assert [(e.line, e.field) for e in errors] == [(line, field)]
    assert errors[0].reason


def test_property_strategies_cover_every_type() -> None:
    assert {f.type for f in PROP_SCHEMA.fields} >= {
        "string", "integer", "number", "boolean", "date", "datetime", "time", "year",
        "geopoint", "object", "array",
    }  # fmt: skip
    assert set(VALUES) == set(BAD) == set(SPECS)
