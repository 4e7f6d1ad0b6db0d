"""Base of every request model: text is refused if it carries a NUL character.

PostgreSQL cannot store NUL in text, SQLite truncates at it in places, and no legitimate name,
code or policy contains one; refusing it up front gives a 422 naming the field instead of a 500.
"""

from __future__ import annotations

import types
from datetime import date
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def has_nul(value: Any) -> bool:
    """True when a string (or a string inside a list or dict) contains NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


def _kinds(annotation: Any) -> set[type]:
    """The plain types an annotation admits (``bool | None`` → {bool, NoneType})."""
    if get_origin(annotation) in (Union, types.UnionType):
        return {k for a in get_args(annotation) for k in _kinds(a)}
    if get_origin(annotation) is not None and get_args(annotation):  # Annotated[T, ...]
        return _kinds(get_args(annotation)[0])
    return {annotation} if isinstance(annotation, type) else set()


def _is_time(kind: type) -> bool:
    """A date or date-time type (pydantic's AwareDatetime and kin included)."""
    return issubclass(kind, date) or (
        kind.__module__.startswith("pydantic") and "Date" in kind.__name__
    )


class Input(BaseModel):
    """A request body: unknown fields are refused, NUL characters are refused, and JSON's
    types are kept: a flag is ``true``/``false`` (not 0, 1 or "yes"), a time is an ISO 8601
    string (not a number)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or value is None:
            return value
        kinds = _kinds(field.annotation)
        if kinds == {bool} or kinds == {bool, type(None)}:
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
        elif any(_is_time(k) for k in kinds) and isinstance(value, int | float):
            raise ValueError("must be an ISO 8601 date or date-time string")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value
