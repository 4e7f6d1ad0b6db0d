"""Ledger routes (Art16 supervision): head, entries, proofs, checkpoints, export.

The ledger package is the bottom layer and knows nothing of HTTP or identity, so its routes live
here in the kernel, behind the gate like every other governed read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from citybrain.kernel.errors import InvalidInput, NotFound
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import (
    MAX_INDEX,
    CursorQuery,
    GovernedDep,
    LimitQuery,
    Page,
    decode_cursor,
    encode_cursor,
)
from citybrain.ledger.errors import LeafIndexOutOfRange, LedgerError

router = APIRouter(prefix="/ledger", tags=["ledger"])


class EntryOut(BaseModel):
    """One ledger entry with its leaf hash."""

    seq: int
    ts: datetime
    actor: str
    organisation: str
    action: str
    resource: str
    purpose: str
    decision: str
    policy_ids: list[str]
    request_id: str
    leaf_hash: str


class CheckpointOut(BaseModel):
    """A signed checkpoint."""

    tree_size: int
    root_hash: str
    ts: datetime
    origin: str
    key_id: str
    signature: str


class HeadOut(BaseModel):
    """Size and root of the ledger now, with the newest signed checkpoint."""

    size: int
    root_hash: str
    public_key: str
    key_id: str
    latest_checkpoint: CheckpointOut | None


def entry_out(row: Any) -> EntryOut:
    """Response model of a stored entry."""
    d = row.data
    return EntryOut(
        seq=row.seq,
        ts=row.ts,
        actor=d.actor,
        organisation=d.organisation,
        action=d.action,
        resource=d.resource,
        purpose=d.purpose,
        decision=d.decision,
        policy_ids=list(d.policy_ids),
        request_id=d.request_id,
        leaf_hash=row.leaf_hash.hex(),
    )


def checkpoint_out(cp: Any) -> CheckpointOut:
    """Response model of a checkpoint."""
    import base64

    return CheckpointOut(
        tree_size=cp.tree_size,
        root_hash=cp.root_hash.hex(),
        ts=cp.ts,
        origin=cp.origin,
        key_id=cp.key_id,
        signature=base64.b64encode(cp.signature).decode(),
    )


def _ledger_resource(g: GovernedDep, what: str) -> Resource:
    return Resource("Ledger", what, g.runtime.settings.city_code)


@router.get("", response_model=HeadOut)
def head(g: GovernedDep) -> HeadOut:
    """The ledger's size, root, signing key and newest checkpoint."""
    ledger = g.runtime.ledger
    with g.read("ledger.read", _ledger_resource(g, "head")) as session:
        h = ledger.head(session)
        cp = ledger.latest_checkpoint(session)
        return HeadOut(
            size=h.size,
            root_hash=h.root.hex(),
            public_key=g.runtime.signer.public_key_b64,
            key_id=g.runtime.signer.key_id,
            latest_checkpoint=checkpoint_out(cp) if cp else None,
        )


@router.get("/entries", response_model=Page[EntryOut])
def entries(g: GovernedDep, limit: LimitQuery = 100, cursor: CursorQuery = None) -> Page[EntryOut]:
    """Entries in sequence order (cursor pagination)."""
    after = decode_cursor(cursor)
    after_seq = int(after) if after is not None else -1
    with g.read("ledger.read", _ledger_resource(g, "entries"), purpose="list entries") as session:
        rows = g.runtime.ledger.entries(session, after_seq, limit + 1)
        items = [entry_out(r) for r in rows[:limit]]
    nxt = encode_cursor(items[-1].seq) if len(rows) > limit else None
    return Page[EntryOut](items=items, next_cursor=nxt)


@router.get("/entries/{seq}", response_model=EntryOut)
def entry(seq: Annotated[int, Path(ge=0, le=MAX_INDEX)], g: GovernedDep) -> EntryOut:
    """One entry by sequence number."""
    with g.read("ledger.read", _ledger_resource(g, f"entry/{seq}")) as session:
        row = g.runtime.ledger.entry(session, seq)
        if row is None:
            raise NotFound(f"no ledger entry {seq}", field="seq")
        return entry_out(row)


@router.get("/proofs/inclusion")
def inclusion_proof(
    g: GovernedDep,
    seq: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None,
) -> dict[str, Any]:
    """Proof that entry ``seq`` is in the tree of ``tree_size`` (default: now), RFC 9162."""
    with g.read("ledger.read", _ledger_resource(g, f"proof/inclusion/{seq}")) as session:
        try:
            return g.runtime.ledger.inclusion_proof(session, seq, tree_size).to_json()  # type: ignore[no-any-return]
        except LeafIndexOutOfRange as exc:
            raise InvalidInput(str(exc), field="seq") from exc
        except LedgerError as exc:
            raise InvalidInput(str(exc), field="tree_size") from exc


@router.get("/proofs/consistency")
def consistency_proof(
    g: GovernedDep,
    first: Annotated[int, Query(ge=1, le=MAX_INDEX)],
    second: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None,
) -> dict[str, Any]:
    """Proof that the tree of size ``first`` is a prefix of the tree of ``second``, RFC 9162."""
    with g.read("ledger.read", _ledger_resource(g, f"proof/consistency/{first}")) as session:
        current = g.runtime.ledger.size(session)
        size = second or current
        if size > current:
            raise InvalidInput(f"second {size} exceeds the ledger size {current}", field="second")
        if first > size:
            raise InvalidInput(f"first {first} exceeds second {size}", field="first")
        return g.runtime.ledger.consistency_proof(session, first, size).to_json()  # type: ignore[no-any-return]


@router.get("/checkpoints", response_model=list[CheckpointOut])
def checkpoints(g: GovernedDep) -> list[CheckpointOut]:
    """Every signed checkpoint, oldest first."""
    with g.read("ledger.read", _ledger_resource(g, "checkpoints")) as session:
        return [checkpoint_out(cp) for cp in g.runtime.ledger.checkpoints(session)]


@router.post("/checkpoints", response_model=CheckpointOut, status_code=201)
def sign_checkpoint(g: GovernedDep) -> CheckpointOut:
    """Sign a checkpoint now (covering this request's own entry)."""
    with g.act("ledger.checkpoint", _ledger_resource(g, "checkpoints")) as session:
        return checkpoint_out(g.runtime.ledger.checkpoint(session, force=True))


@router.get("/export")
def export(g: GovernedDep) -> dict[str, Any]:
    """Signed checkpoints with consistency proofs, for verification without database access."""
    with g.read("ledger.read", _ledger_resource(g, "export"), purpose="export checkpoints") as s:
        return g.runtime.ledger.export_checkpoints(s)  # type: ignore[no-any-return]
