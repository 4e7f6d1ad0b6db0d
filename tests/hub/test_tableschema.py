"""Frictionless Table Schema checks (the schema itself), without a database."""

from __future__ import annotations

import pytest

from citybrain.hub.catalogue.tableschema import pii_fields, validate_table_schema
from citybrain.hub.catalogue.vocab import eu_frequency, parse_duration
from citybrain.kernel.errors import InvalidInput


def test_a_full_schema_normalises() -> None:
    schema = validate_table_schema(
        {
            "fields": [
                {
                    "name": "id",
                    "type": "integer",
                    "constraints": {"required": True, "unique": True},
                },
                {"name": "name", "pii": True},
                {
                    "name": "idcard",
                    "sensitive_pii": True,
                    "constraints": {"pattern": r"^\d{17}[\dX]$"},
                },
                {"name": "level", "type": "string", "constraints": {"enum": ["a", "b"]}},
                {
                    "name": "day",
                    "type": "date",
                    "format": "%Y-%m-%d",
                    "constraints": {"minimum": "2020-01-01"},
                },
                {"name": "where", "type": "geopoint"},
                {"name": "v", "type": "number", "constraints": {"minimum": 0, "maximum": 1.5}},
            ],
            "primaryKey": "id",
            "missingValues": ["", "NA"],
        }
    )
    assert schema["fields"][1]["type"] == "string"
    assert schema["fields"][2]["pii"] is True
    assert pii_fields(schema) == [(1, "name"), (2, "idcard")]


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ([], "schema"),
        ({"fields": "x"}, "schema.fields"),
        ({"fields": [{"type": "string"}]}, "schema.fields.0.name"),
        (
            {"fields": [{"name": "a", "type": "integer", "constraints": {"minimum": 1.5}}]},
            "schema.fields.0.constraints.minimum",
        ),
        (
            {
                "fields": [
                    {"name": "a", "type": "number", "constraints": {"minimum": 3, "maximum": 1}}
                ]
            },
            "schema.fields.0.constraints.minimum",
        ),
        (
            {"fields": [{"name": "a", "type": "boolean", "constraints": {"minimum": 1}}]},
            "schema.fields.0.constraints.minimum",
        ),
        (
            {"fields": [{"name": "a", "constraints": {"enum": []}}]},
            "schema.fields.0.constraints.enum",
        ),
        (
            {"fields": [{"name": "a", "constraints": {"required": "yes"}}]},
            "schema.fields.0.constraints.required",
        ),
        (
            {"fields": [{"name": "a", "constraints": {"sorted": True}}]},
            "schema.fields.0.constraints.sorted",
        ),
        (
            {"fields": [{"name": "a", "type": "integer", "constraints": {"pattern": "x"}}]},
            "schema.fields.0.constraints.pattern",
        ),
        ({"fields": [{"name": "a", "pii": False, "sensitive_pii": True}]}, "schema.fields.0.pii"),
        ({"fields": [{"name": "a"}], "primaryKey": ["a", "a"]}, "schema.primaryKey"),
        ({"fields": [{"name": "a"}], "primaryKey": []}, "schema.primaryKey"),
        ({"fields": [{"name": "a"}], "foreignKeys": []}, "schema.foreignKeys"),
    ],
)
def test_bad_schemas_name_the_path(schema: object, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_table_schema(schema)
    assert err.value.field == field


def test_durations() -> None:
    assert parse_duration("PT5M").total_seconds() == 300
    assert parse_duration("P1DT12H").total_seconds() == 36 * 3600
    assert eu_frequency("P1D").endswith("/DAILY")
    assert eu_frequency("PT5M").endswith("/UPDATE_CONT")
    assert eu_frequency("P2D").endswith("/OTHER")
    for bad in ("", "P", "PT", "5M", "P1H", "PT-1M", "P0D"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)
