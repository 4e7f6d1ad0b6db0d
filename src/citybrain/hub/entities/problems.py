"""The NGSI-LD problem types (ETSI GS CIM 009, clause 5.5.2) as CityBrain errors.

Each renders as RFC 9457 problem+json whose ``type`` is the ETSI URI, so NGSI-LD clients that
switch on ``https://uri.etsi.org/ngsi-ld/errors/...`` keep working.
"""

from __future__ import annotations

from typing import Any

from citybrain.kernel.errors import CityBrainError

ETSI_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiError(CityBrainError):
    """Base of the NGSI-LD problem types."""

    etsi: str = "InternalError"

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Problem details with the ETSI type URI."""
        body = super().to_problem(instance)
        body["type"] = ETSI_ERRORS + self.etsi
        return body


class InvalidRequest(NgsiError):
    """The request is not well formed (e.g. body is not JSON): 400."""

    status, problem, title, exit_code, etsi = (
        400,
        "ngsi-invalid-request",
        "Invalid request",
        2,
        "InvalidRequest",
    )


class BadRequestData(NgsiError):
    """The request is well formed but its data are not acceptable: 400."""

    status, problem, title, exit_code, etsi = (
        400,
        "ngsi-bad-request-data",
        "Bad request data",
        2,
        "BadRequestData",
    )


class ResourceNotFound(NgsiError):
    """The entity, attribute, subscription or tenant does not exist: 404."""

    status, problem, title, etsi = (
        404,
        "ngsi-resource-not-found",
        "Resource not found",
        "ResourceNotFound",
    )


class AlreadyExists(NgsiError):
    """An entity or subscription with that id exists already: 409."""

    status, problem, title, etsi = 409, "ngsi-already-exists", "Already exists", "AlreadyExists"


class OperationNotSupported(NgsiError):
    """A valid operation this broker does not implement: 422."""

    status, problem, title, etsi = (
        422,
        "ngsi-operation-not-supported",
        "Operation not supported",
        "OperationNotSupported",
    )


class LdContextNotAvailable(NgsiError):
    """A user @context could not be fetched (refused host, timeout, too big, not JSON): 503."""

    status, problem, title, etsi = (
        503,
        "ngsi-ld-context-not-available",
        "LD context not available",
        "LdContextNotAvailable",
    )


class TooManyResults(NgsiError):
    """The query would return more than the broker is willing to: 403."""

    status, problem, title, etsi = (
        403,
        "ngsi-too-many-results",
        "Too many results",
        "TooManyResults",
    )


class NonexistentTenant(NgsiError):
    """The ``NGSILD-Tenant`` names no organisation: 404."""

    status, problem, title, etsi = (
        404,
        "ngsi-nonexistent-tenant",
        "Nonexistent tenant",
        "NonexistentTenant",
    )
