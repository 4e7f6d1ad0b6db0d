"""Checks against what an outsider kept: an earlier checkpoint export.

Without outside state, someone with database write access could cut the log back to an earlier
size and remove the later checkpoints; the rest would still verify. An export held by an
independent party pins the public key and every checkpoint it saw, so truncation, rewriting and a
swapped key are caught.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from citybrain.ledger.proofs import VerifyReport, verify_export
from citybrain.ledger.service import Ledger


def _cp_key(cp: dict[str, Any]) -> tuple[int, str, str]:
    return int(cp["tree_size"]), str(cp["root_hash"]), str(cp["signature"])


def compare_exports(previous: dict[str, Any], current: dict[str, Any]) -> VerifyReport:
    """``current`` must verify with ``previous``'s key and contain every earlier checkpoint."""
    pinned = previous.get("public_key")
    report = verify_export(current, public_key_b64=pinned)
    if not report.ok:
        return report
    old = verify_export(previous)
    if not old.ok:
        return VerifyReport(False, old.size, None, f"previous export: {old.reason}")
    now = {_cp_key(cp) for cp in current["checkpoints"]}
    for cp in previous["checkpoints"]:
        if _cp_key(cp) not in now:
            return VerifyReport(
                False,
                report.size,
                None,
                f"checkpoint of size {cp['tree_size']} from the previous export is missing or "
                "changed: the log was cut back or rewritten",
                report.checked_checkpoints,
            )
    return report


def verify_against(ledger: Ledger, session: Session, exported: dict[str, Any]) -> VerifyReport:
    """The live log must extend every checkpoint of an earlier export, under the same key."""
    if exported.get("public_key") != ledger.signer.public_key_b64:
        return VerifyReport(False, 0, None, "the ledger's signing key is not the exported one")
    outside = verify_export(exported)
    if not outside.ok:
        return VerifyReport(False, outside.size, None, f"export: {outside.reason}")
    size = ledger.size(session)
    root = ledger.root(session)
    checked = 0
    for cp in exported["checkpoints"]:
        cp_size, cp_root = int(cp["tree_size"]), bytes.fromhex(cp["root_hash"])
        if cp_size > size:
            return VerifyReport(
                False,
                size,
                size,
                f"the ledger has {size} entries but a checkpoint of size {cp_size} was exported: "
                f"entries from sequence {size} on were removed",
                checked,
            )
        proof = ledger.consistency_proof(session, cp_size, size)
        if not proof.verify(cp_root, root):
            return VerifyReport(
                False,
                size,
                None,
                f"the ledger is not an extension of the exported checkpoint of size {cp_size}",
                checked,
            )
        checked += 1
    return VerifyReport(True, size, None, "", checked)
