"""Batch collection routes: upload a batch, list a dataset's batches, show one batch with its
quarantined rows, register a provider's signing key. Thin: the logic is in ``service``.

The dataset's schema and provider come from the ``DatasetDirectory`` at
``app.state.dataset_directory`` (the catalogue, once it is ready); the upload limit from
``app.state.ingest_max_bytes`` (default 64 MiB).
"""

from __future__ import annotations

from datetime import datetime
from email.message import Message
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from citybrain.hub.ingest import readers, service
from citybrain.hub.ingest.service import BatchResult, DatasetDirectory
from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import (
    CursorQuery,
    Governed,
    GovernedDep,
    LimitQuery,
    Page,
    keyset_page,
    problem_responses,
)
from citybrain.kernel.identity.service import get_organisation
from citybrain.kernel.schemas import Input

router = APIRouter(tags=["hub: collection"])
MULTIPART_SLACK = 64 * 1024  # room for a multipart envelope around a file at the limit


class QuarantineOut(BaseModel):
    """A quarantined row: its line, the field at fault, the reason and the row as received."""

    line: int
    field: str
    reason: str
    raw: Any


class BatchOut(BaseModel):
    """A batch's outcome and provenance."""

    id: int
    dataset_id: str
    organisation: str
    actor: str
    source: str
    format: str
    encoding: str | None
    size_bytes: int
    content_sha256: str
    mode: str
    rows_total: int
    rows_accepted: int
    rows_quarantined: int
    signature_key_id: str | None
    signature_verified: bool | None
    authenticity: str = Field(
        description="verified, invalid-signature, unsigned, no-registered-key"
    )
    received_at: datetime
    ledger_seq: int | None
    duplicate: bool = False
    quarantine: list[QuarantineOut] = []


class ProviderKeyIn(Input):
    """An organisation's Ed25519 public key (base64 of its 32 raw bytes)."""

    organisation: str = Field(max_length=18)
    public_key: str = Field(max_length=100)


class ProviderKeyOut(BaseModel):
    """A registered provider key."""

    organisation: str
    key_id: str
    public_key: str
    active: bool
    created_at: datetime


def batch_out(result: BatchResult, with_quarantine: bool = True) -> BatchOut:
    """Response model of a batch result."""
    return BatchOut(
        id=result.batch_id,
        **{k: getattr(result, k) for k in BatchOut.model_fields if k not in ("id", "quarantine")},
        quarantine=[QuarantineOut(**vars(q)) for q in result.quarantine] if with_quarantine else [],
    )


def dataset_directory(request: Request) -> DatasetDirectory:
    """The directory of datasets (schema and provider) the app was given."""
    directory = getattr(request.app.state, "dataset_directory", None)
    if directory is None:
        raise NotFound("no dataset directory (catalogue) is configured", field="dataset_id")
    return directory  # type: ignore[no-any-return]


DirectoryDep = Annotated[DatasetDirectory, Depends(dataset_directory)]


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (naming the limit) as soon as it grows past ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InvalidInput(
            f"the upload is {declared} bytes, over the limit of {limit} bytes",
            field="body",
            limit=limit,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidInput(
                f"the upload is over the limit of {limit} bytes", field="body", limit=limit
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _header_params(value: str, name: str) -> Message:
    msg = Message()
    msg[name] = value
    return msg


def unpack_multipart(body: bytes, content_type: str) -> tuple[bytes, str | None, str | None]:
    """(bytes, file name, media type) of the part named ``file`` of a multipart/form-data body."""
    boundary = _header_params(content_type, "content-type").get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise InvalidInput("multipart body without a boundary", field="Content-Type")
    delimiter = b"--" + boundary.encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for raw in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = raw.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _header_params(headers.get("content-disposition", ""), "cd")
        if disposition.get_param("name", header="cd") == "file":
            filename = disposition.get_param("filename", header="cd")
            return (
                content.removesuffix(b"\r\n"),
                filename if isinstance(filename, str) else None,
                headers.get("content-type"),
            )
    raise InvalidInput("a multipart upload needs a part named 'file'", field="file")


def _collect(
    g: Governed,
    directory: DatasetDirectory,
    dataset_id: str,
    data: bytes,
    fmt: str,
    **kwargs: Any,
) -> BatchResult:
    with g.runtime.reader() as session:
        schema, provider = directory.schema_of(session, dataset_id)
    digest = service.content_digest(data)
    resource = Resource("Dataset", dataset_id, provider)
    try:
        with g.act("dataset.collect", resource, purpose=f"batch sha256:{digest}") as session:
            result = service.ingest_batch(
                session,
                dataset_id=dataset_id,
                schema=schema,
                organisation=provider,
                actor=g.caller.name,
                data=data,
                fmt=fmt,
                ledger_seq=g.runtime.ledger.size(session) - 1,  # our entry, under the head lock
                clock=g.runtime.clock,
                **kwargs,
            )
            if result.duplicate:
                raise _Duplicate(result)  # roll the new ledger entry back: stored once
    except _Duplicate as dup:
        return dup.result
    return result


class _Duplicate(Exception):
    def __init__(self, result: BatchResult) -> None:
        super().__init__("duplicate batch")
        self.result = result


@router.post(
    "/hub/datasets/{dataset_id}/batches",
    status_code=201,
    response_model=BatchOut,
    responses={200: {"model": BatchOut, "description": "the same bytes were stored before"}}
    | problem_responses(404, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}}
                for m in [*readers.MEDIA_TYPES, "multipart/form-data"]
            },
        }
    },
)
async def post_batch(
    dataset_id: str,
    request: Request,
    response: Response,
    g: GovernedDep,
    directory: DirectoryDep,
    mode: Literal["atomic", "quarantine"] = "atomic",
    encoding: Annotated[str | None, Query(max_length=40, description="CSV text encoding")] = None,
    source: Annotated[str | None, Query(max_length=500)] = None,
    x_provider_signature: Annotated[
        str | None, Header(max_length=200, description="base64 Ed25519 over the raw bytes")
    ] = None,
) -> BatchOut:
    """Collect a batch (CSV, JSON, JSON Lines, Parquet; raw body or multipart ``file``) into a
    dataset: 201 when stored, 200 with ``duplicate`` when the same bytes were stored before."""
    limit = int(getattr(request.app.state, "ingest_max_bytes", service.DEFAULT_MAX_BYTES))
    content_type = request.headers.get("content-type", "")
    multipart = content_type.lower().startswith("multipart/form-data")
    body = await _read_body(request, limit + (MULTIPART_SLACK if multipart else 0))
    filename: str | None = None
    media: str | None = content_type
    if multipart:
        body, filename, media = unpack_multipart(body, content_type)
    readers.check_size(body, limit)
    fmt = readers.format_of(media, filename)
    result = await run_in_threadpool(
        _collect,
        g,
        directory,
        dataset_id,
        body,
        fmt,
        mode=mode,
        source=source or filename or "upload",
        signature_b64=x_provider_signature,
        encoding=encoding,
        max_bytes=limit,
    )
    if result.duplicate:
        response.status_code = 200
    return batch_out(result)


@router.get(
    "/hub/datasets/{dataset_id}/batches",
    response_model=Page[BatchOut],
    responses=problem_responses(404),
)
def list_batches(
    dataset_id: str,
    g: GovernedDep,
    directory: DirectoryDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[BatchOut]:
    """The batches collected into a dataset, oldest first (quarantined rows not included)."""
    with g.runtime.reader() as session:
        _, provider = directory.schema_of(session, dataset_id)
    resource = Resource("Dataset", dataset_id, provider)
    with g.read("dataset.read", resource, purpose="list batches") as session:
        return keyset_page(
            session,
            service.batches_query(dataset_id),
            service.IngestBatch.id,
            cursor,
            limit,
            lambda b: batch_out(service.result_of(b), False),
        )


@router.get("/hub/batches/{batch_id}", response_model=BatchOut, responses=problem_responses(404))
def get_batch(
    batch_id: Annotated[int, Path(ge=1, le=2**62, description="batch id")], g: GovernedDep
) -> BatchOut:
    """One batch with its provenance and (up to 1,000) quarantined rows."""
    with g.runtime.reader() as session:
        batch = service.get_batch(session, batch_id)
        resource = Resource("Dataset", batch.dataset_id, batch.organisation)
    with g.read("dataset.read", resource, purpose=f"batch {batch_id}") as session:
        return batch_out(service.batch_result(session, service.get_batch(session, batch_id)))


@router.post(
    "/hub/provider-keys",
    status_code=201,
    response_model=ProviderKeyOut,
    responses=problem_responses(404, 409, 422),
)
def post_provider_key(body: ProviderKeyIn, g: GovernedDep) -> ProviderKeyOut:
    """Register the Ed25519 public key an organisation signs its batches with."""
    key_id = service.key_id_for(body.public_key)
    resource = Resource("ProviderKey", key_id, body.organisation)
    with g.act("provider_key.write", resource, purpose=f"register key {key_id}") as session:
        get_organisation(session, body.organisation, field="organisation")
        key = service.register_provider_key(
            session,
            organisation=body.organisation,
            public_key_b64=body.public_key,
            actor=g.caller.name,
            clock=g.runtime.clock,
        )
        return ProviderKeyOut(
            organisation=key.organisation,
            key_id=key.key_id,
            public_key=key.public_key,
            active=key.active,
            created_at=key.created_at,
        )
