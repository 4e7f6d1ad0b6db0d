"""Proofs, checkpoints and reports as values, and the checks an outsider runs with no database."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from citybrain.ledger.entry import iso_utc
from citybrain.ledger.merkle import HASH_SIZE, verify_consistency, verify_inclusion
from citybrain.ledger.signing import CheckpointSigner, checkpoint_note, key_id_of


def _unhex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected a hex string")
    raw = bytes.fromhex(value)
    if len(raw) != HASH_SIZE:
        raise ValueError(f"{what}: expected {HASH_SIZE} bytes, got {len(raw)}")
    return raw


def _as_hash(value: bytes | str) -> bytes:
    return _unhex(value, "root") if isinstance(value, str) else value


def _int(doc: dict[str, Any], key: str) -> int:
    value = doc[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key}: expected an integer")
    return value


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """PATH(leaf_index, D[tree_size]) with the leaf hash and the root it leads to."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    root: bytes

    def verify(self, root: bytes | None = None) -> bool:
        """Check the proof against ``root`` (by default the root it carries)."""
        expected = self.root if root is None else root
        return verify_inclusion(
            self.leaf_index, self.tree_size, self.leaf_hash, self.path, expected
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form with hex hashes."""
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [p.hex() for p in self.path],
            "root_hash": self.root.hex(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> InclusionProof:
        """Parse :meth:`to_json` output; ValueError/KeyError on malformed input."""
        return cls(
            _int(doc, "leaf_index"),
            _int(doc, "tree_size"),
            _unhex(doc["leaf_hash"], "leaf_hash"),
            [_unhex(p, "path") for p in doc["path"]],
            _unhex(doc["root_hash"], "root_hash"),
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """PROOF(first, D[second]) with both roots."""

    first: int
    second: int
    first_root: bytes
    second_root: bytes
    path: list[bytes]

    def verify(self, first_root: bytes | None = None, second_root: bytes | None = None) -> bool:
        """Check the proof (against trusted roots when given)."""
        r1 = self.first_root if first_root is None else first_root
        r2 = self.second_root if second_root is None else second_root
        return verify_consistency(self.first, self.second, r1, r2, self.path)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form with hex hashes."""
        return {
            "first": self.first,
            "second": self.second,
            "first_root_hash": self.first_root.hex(),
            "second_root_hash": self.second_root.hex(),
            "path": [p.hex() for p in self.path],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ConsistencyProof:
        """Parse :meth:`to_json` output; ValueError/KeyError on malformed input."""
        return cls(
            _int(doc, "first"),
            _int(doc, "second"),
            _unhex(doc["first_root_hash"], "first_root_hash"),
            _unhex(doc["second_root_hash"], "second_root_hash"),
            [_unhex(p, "path") for p in doc["path"]],
        )


def verify_inclusion_json(doc: dict[str, Any], root: bytes | str | None = None) -> bool:
    """Verify an inclusion proof document; pass a trusted ``root`` (e.g. from a checkpoint)."""
    try:
        proof = InclusionProof.from_json(doc)
        return proof.verify(None if root is None else _as_hash(root))
    except (KeyError, TypeError, ValueError):
        return False


def verify_consistency_json(
    doc: dict[str, Any],
    first_root: bytes | str | None = None,
    second_root: bytes | str | None = None,
) -> bool:
    """Verify a consistency proof document, optionally against trusted roots."""
    try:
        proof = ConsistencyProof.from_json(doc)
        return proof.verify(
            None if first_root is None else _as_hash(first_root),
            None if second_root is None else _as_hash(second_root),
        )
    except (KeyError, TypeError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed (origin, tree size, root hash, time) statement."""

    id: int
    tree_size: int
    root_hash: bytes
    ts: datetime
    origin: str
    key_id: str
    signature: bytes

    def note(self) -> bytes:
        """The exact bytes the signature covers."""
        return checkpoint_note(self.origin, self.tree_size, self.root_hash, self.ts)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (hex root, base64 signature)."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "ts": iso_utc(self.ts),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of a full check. ``first_bad_seq`` names the first bad entry when one is known."""

    ok: bool
    size: int
    first_bad_seq: int | None = None
    reason: str = ""
    checked_checkpoints: int = 0


def verify_export(doc: dict[str, Any], public_key_b64: str | None = None) -> VerifyReport:
    """Check an ``export_checkpoints`` document with no database: every signature, every
    consistency proof between consecutive checkpoints. Pin ``public_key_b64`` when you know it.
    """
    checked = 0
    size = 0
    try:
        origin = doc["origin"]
        key = doc["public_key"]
        if public_key_b64 is not None and key != public_key_b64:
            return VerifyReport(False, 0, None, "public key is not the expected one")
        if key_id_of(base64.b64decode(key, validate=True)) != doc["key_id"]:
            return VerifyReport(False, 0, None, "key_id does not match the public key")
        cps = doc["checkpoints"]
        links = doc["consistency"]
        if len(links) != max(len(cps) - 1, 0):
            return VerifyReport(
                False, 0, None, "expected one consistency proof per checkpoint pair"
            )
        prev: tuple[int, bytes] | None = None
        for i, cp in enumerate(cps):
            tree_size = _int(cp, "tree_size")
            root = _unhex(cp["root_hash"], "root_hash")
            size = max(size, tree_size)
            where = f"checkpoint {i} (size {tree_size})"
            if cp["key_id"] != doc["key_id"]:
                return VerifyReport(False, size, None, f"{where}: signed by another key")
            note = checkpoint_note(origin, tree_size, root, cp["ts"])
            if not CheckpointSigner.verify(key, note, base64.b64decode(cp["signature"])):
                return VerifyReport(False, size, None, f"{where}: bad signature", checked)
            if prev is not None:
                link = ConsistencyProof.from_json(links[i - 1])
                if (link.first, link.second) != (prev[0], tree_size):
                    return VerifyReport(False, size, None, f"{where}: proof is for other sizes")
                if not link.verify(prev[1], root):
                    return VerifyReport(
                        False, size, None, f"{where}: not consistent with size {prev[0]}", checked
                    )
            prev = (tree_size, root)
            checked += 1
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        return VerifyReport(False, size, None, f"malformed export: {exc}", checked)
    return VerifyReport(True, size, None, "", checked)
