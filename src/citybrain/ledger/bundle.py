"""Evidence bundles: ledger entries with their inclusion proofs to one signed checkpoint.

A bundle lets an outsider check, with no database, that each entry it carries is in the log as
signed: the entry's fields give its canonical bytes and leaf hash, the path leads from the leaf
to the checkpoint's root, and the checkpoint's Ed25519 signature covers that root. Pinned to a
key the auditor trusts (or to an export of the checkpoints, ``Ledger.export_checkpoints``), a
forged entry, proof or signature is caught and named.

Anything else the bundle carries (``subject``: what the evidence is for; ``attachments``:
records with a ``sha256`` of their canonical JSON) is described, not signed, except that each
attachment's hash is rechecked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from citybrain.ledger.entry import EntryData, canonical_bytes, iso_utc
from citybrain.ledger.merkle import leaf_hash, verify_inclusion
from citybrain.ledger.proofs import Checkpoint, VerifyReport, verify_export
from citybrain.ledger.signing import CheckpointSigner, checkpoint_note, key_id_of

FORMAT = "citybrain-evidence/1"
MAX_ENTRIES = 10_000
_FIELDS = (
    "actor", "organisation", "action", "resource", "purpose", "decision", "policy_ids", "request_id"
)  # fmt: skip


def content_sha256(content: Any) -> str:
    """SHA-256 hex of ``content`` as canonical JSON (sorted keys, compact, UTF-8)."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def attachment(kind: str, ref: str, content: Any) -> dict[str, Any]:
    """A record carried beside the entries (a quality record, a batch summary), with its hash."""
    return {"kind": kind, "ref": ref, "content": content, "sha256": content_sha256(content)}


def build_bundle(
    ledger: Any,
    session: Session,
    seqs: Iterable[int],
    checkpoint: Checkpoint,
    *,
    subject: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The bundle of entries ``seqs`` proven against ``checkpoint`` (which must cover them).

    ``ledger`` is a :class:`citybrain.ledger.service.Ledger`; ValueError when a seq is not
    covered by the checkpoint or there are more than ``MAX_ENTRIES``."""
    wanted = sorted(set(seqs))
    if len(wanted) > MAX_ENTRIES:
        raise ValueError(f"seqs: at most {MAX_ENTRIES} entries per bundle")
    if wanted and wanted[-1] >= checkpoint.tree_size:
        raise ValueError(f"seqs: entry {wanted[-1]} is after checkpoint {checkpoint.tree_size}")
    entries = []
    for seq in wanted:
        stored = ledger.entry(session, seq)
        if stored is None:
            raise ValueError(f"seqs: no entry {seq}")
        proof = ledger.inclusion_proof(session, seq, checkpoint.tree_size)
        doc: dict[str, Any] = {"seq": seq, "ts": iso_utc(stored.ts)}
        for name in _FIELDS:
            value = getattr(stored.data, name)
            doc[name] = list(value) if name == "policy_ids" else value
        doc["leaf_hash"] = stored.leaf_hash.hex()
        doc["path"] = [p.hex() for p in proof.path]
        entries.append(doc)
    return {
        "format": FORMAT,
        "origin": checkpoint.origin,
        "public_key": ledger.signer.public_key_b64,
        "key_id": checkpoint.key_id,
        "checkpoint": checkpoint.to_json(),
        "entries": entries,
        "subject": subject or {},
        "attachments": attachments or [],
    }


def bundle_at_latest(
    ledger: Any,
    reader: Callable[[], AbstractContextManager[Session]],
    writer: Callable[[], AbstractContextManager[Session]],
    seqs: list[int],
    *,
    subject: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """:func:`build_bundle` against the latest checkpoint, signing a new one (in a ``writer``
    transaction, e.g. ``factory.begin``) when the latest does not cover every entry."""
    with reader() as session:
        checkpoint = ledger.latest_checkpoint(session)
    if checkpoint is None or (seqs and checkpoint.tree_size <= max(seqs)):
        with writer() as session:
            checkpoint = ledger.checkpoint(session, force=True)
    assert checkpoint is not None  # a forced checkpoint is always signed
    with reader() as session:
        return build_bundle(
            ledger, session, seqs, checkpoint, subject=subject, attachments=attachments
        )


def _unhex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected hex text")
    return bytes.fromhex(value)


def _entry_leaf(doc: dict[str, Any]) -> tuple[int, bytes]:
    """(seq, leaf hash recomputed from the entry's fields); ValueError on a malformed entry."""
    seq = doc["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("seq: expected a non-negative integer")
    stamp = doc["ts"]
    ts = datetime.fromisoformat(stamp)
    if iso_utc(ts) != stamp:
        raise ValueError("ts: not in the ledger's canonical form")
    data = EntryData(*(tuple(doc[n]) if n == "policy_ids" else doc[n] for n in _FIELDS))
    return seq, leaf_hash(canonical_bytes(seq, ts, data))


def _pinned_key(doc: dict[str, Any], public_key_b64: str | None, export: Any) -> str | None:
    """Why the bundle's key is not the trusted one, or None."""
    if export is not None:
        report = verify_export(export, public_key_b64)
        if not report.ok:
            return f"checkpoint export does not verify: {report.reason}"
        if export["public_key"] != doc["public_key"] or export["origin"] != doc["origin"]:
            return "bundle is signed by another log than the checkpoint export"
        cp = doc["checkpoint"]
        for known in export["checkpoints"]:
            if known["tree_size"] == cp["tree_size"] and known["root_hash"] != cp["root_hash"]:
                return f"checkpoint {cp['tree_size']}: root differs from the exported one"
    elif public_key_b64 is not None and doc["public_key"] != public_key_b64:
        return "bundle is signed by another key than the trusted one"
    return None


def verify_bundle(
    doc: dict[str, Any],
    *,
    public_key_b64: str | None = None,
    export: dict[str, Any] | None = None,
) -> VerifyReport:
    """Check a bundle offline: key (pinned by ``public_key_b64`` or an ``export`` of
    checkpoints), checkpoint signature, each entry's leaf hash and inclusion path, each
    attachment's hash. ``first_bad_seq`` names the first entry that fails."""
    size = 0
    try:
        if doc.get("format") != FORMAT:
            return VerifyReport(False, 0, None, f"not a {FORMAT} bundle")
        problem = _pinned_key(doc, public_key_b64, export)
        if problem:
            return VerifyReport(False, 0, None, problem)
        key = doc["public_key"]
        if key_id_of(base64.b64decode(key, validate=True)) != doc["key_id"]:
            return VerifyReport(False, 0, None, "key_id does not match the public key")
        cp = doc["checkpoint"]
        size = cp["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            return VerifyReport(False, 0, None, "checkpoint tree_size: expected a positive integer")
        root = _unhex(cp["root_hash"], "root_hash")
        note = checkpoint_note(doc["origin"], size, root, cp["ts"])
        if cp["key_id"] != doc["key_id"] or not CheckpointSigner.verify(
            key, note, base64.b64decode(cp["signature"], validate=True)
        ):
            return VerifyReport(False, size, None, "checkpoint: bad signature")
        for entry in doc["entries"]:
            seq, leaf = _entry_leaf(entry)
            if leaf.hex() != entry["leaf_hash"]:
                return VerifyReport(False, size, seq, f"entry {seq}: fields do not match its hash")
            path = [_unhex(p, "path") for p in entry["path"]]
            if not (seq < size and verify_inclusion(seq, size, leaf, path, root)):
                return VerifyReport(False, size, seq, f"entry {seq}: not in the signed tree")
        for i, att in enumerate(doc.get("attachments") or []):
            if content_sha256(att["content"]) != att["sha256"]:
                return VerifyReport(False, size, None, f"attachment {i}: content does not match")
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        return VerifyReport(False, size, None, f"malformed bundle: {exc}")
    return VerifyReport(True, size, None, "", 1)
