"""One error hierarchy for CityBrain.

Every error knows its HTTP status and RFC 9457 problem type, and renders as a one-line message
(with an exit code) on the command line.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://citybrain.dev/problems/"


class CityBrainError(Exception):
    """Base of every error CityBrain raises on purpose."""

    status: int = 500
    problem: str = "internal"
    title: str = "Internal error"
    exit_code: int = 1

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Render as an RFC 9457 problem details object."""
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.problem,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body

    def one_line(self) -> str:
        """A single line for the command line."""
        where = f" [{self.field}]" if self.field else ""
        return f"error: {self.title}{where}: {self.detail}"


class InvalidInput(CityBrainError):
    """Bad input: 422, naming the field (exit code 2 on the CLI)."""

    status, problem, title, exit_code = 422, "invalid-input", "Invalid input", 2


class NotFound(CityBrainError):
    """The named resource does not exist: 404."""

    status, problem, title = 404, "not-found", "Not found"


class Conflict(CityBrainError):
    """The resource already exists or the change clashes with one: 409."""

    status, problem, title = 409, "conflict", "Conflict"


class Unauthenticated(CityBrainError):
    """Missing, invalid, expired or revoked credentials: 401."""

    status, problem, title = 401, "unauthenticated", "Authentication required"


class Forbidden(CityBrainError):
    """The policy engine said no: 403, naming the deciding policies."""

    status, problem, title = 403, "forbidden", "Forbidden"


class ConfigError(CityBrainError):
    """A setting is unknown or invalid: refuses to start (exit code 2)."""

    status, problem, title, exit_code = 500, "config", "Configuration error", 2


class DatabaseUnavailable(CityBrainError):
    """The database does not answer: 503, or one line and exit code 2."""

    status, problem, title, exit_code = 503, "database-unavailable", "Database unavailable", 2


class LedgerTampered(CityBrainError):
    """The ledger does not verify: exit code 1 naming the first bad entry."""

    status, problem, title, exit_code = 500, "ledger-tampered", "Ledger verification failed", 1
