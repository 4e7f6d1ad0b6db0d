"""Base of every request model: text is refused if it carries a NUL character.

PostgreSQL cannot store NUL in text, SQLite truncates at it in places, and no legitimate name,
code or policy contains one; refusing it up front gives a 422 naming the field instead of a 500.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def has_nul(value: Any) -> bool:
    """True when a string (or a string inside a list or dict) contains NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


class Input(BaseModel):
    """A request body: unknown fields are refused, NUL characters are refused."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value
