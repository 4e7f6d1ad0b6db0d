"""`citybrain ledger ...`: verify, proofs, checkpoints, export. Thin over the ledger service."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from citybrain.kernel.cli_common import ConfigOpt, DataDirOpt, DbOpt, open_runtime
from citybrain.kernel.errors import InvalidInput, LedgerTampered
from citybrain.kernel.gate import Resource
from citybrain.kernel.i18n import both, t
from citybrain.kernel.runtime import SYSTEM_ACTOR
from citybrain.ledger.bundle import verify_bundle
from citybrain.ledger.errors import LedgerError
from citybrain.ledger.service import verify_export
from citybrain.ledger.witness import compare_exports, verify_against

app = typer.Typer(help=both("cli.ledger"), no_args_is_help=True)
console = Console()


def _read_json(file: Path, field: str) -> dict[str, Any]:
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}", field=field) from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{file} is not an export document", field=field)
    return doc


AgainstOpt = Annotated[
    Path | None,
    typer.Option("--against", help="an earlier `ledger export` file held by an outsider"),
]


@app.command(help=both("cli.ledger.verify"))
def verify(
    against: AgainstOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Recompute the ledger; exit 1 naming the first bad sequence number.

    With --against, also prove the ledger extends every checkpoint of an earlier export under
    the same key (catches a log cut back by someone without the signing key).
    """
    exported = _read_json(against, "against") if against else None
    rt = open_runtime(data_dir, db, config)
    try:
        with rt.reader() as session:
            report = rt.ledger.verify(session)
            if report.ok and exported is not None:
                outside = verify_against(rt.ledger, session, exported)
                if not outside.ok:
                    report = outside
    finally:
        rt.close()
    loc = rt.settings.default_locale
    if report.ok:
        console.print(
            t("cli.verify.ok", loc, size=report.size, checkpoints=report.checked_checkpoints)
        )
        return
    if report.first_bad_seq is not None:
        raise LedgerTampered(
            t("cli.verify.bad", loc, seq=report.first_bad_seq, reason=report.reason)
        )
    raise LedgerTampered(t("cli.verify.bad_noseq", loc, reason=report.reason))


@app.command(help=both("cli.ledger.status"))
def status(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Size, root and newest checkpoint as JSON."""
    rt = open_runtime(data_dir, db, config)
    with rt.factory() as session:
        head = rt.ledger.head(session)
        cp = rt.ledger.latest_checkpoint(session)
    rt.close()
    print(
        json.dumps(
            {
                "size": head.size,
                "root_hash": head.root.hex(),
                "key_id": rt.signer.key_id,
                "latest_checkpoint": None
                if cp is None
                else {
                    "tree_size": cp.tree_size,
                    "root_hash": cp.root_hash.hex(),
                    "ts": cp.ts.isoformat(),
                },
            },
            ensure_ascii=False,
        )
    )


@app.command(help=both("cli.ledger.proof"))
def proof(
    seq: Annotated[int | None, typer.Option(help="entry for an inclusion proof")] = None,
    first: Annotated[
        int | None, typer.Option(help="older tree size for a consistency proof")
    ] = None,
    tree_size: Annotated[int | None, typer.Option(help="tree size (default: now)")] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print an RFC 9162 inclusion (--seq) or consistency (--first) proof, verified, as JSON."""
    if (seq is None) == (first is None):
        raise InvalidInput("give exactly one of --seq or --first", field="seq")
    rt = open_runtime(data_dir, db, config)
    try:
        with rt.factory() as session:
            if seq is not None:
                p = rt.ledger.inclusion_proof(session, seq, tree_size)
            else:
                size = tree_size or rt.ledger.size(session)
                p = rt.ledger.consistency_proof(session, first, size)
    except LedgerError as exc:
        raise InvalidInput(str(exc), field="seq" if seq is not None else "first") from exc
    finally:
        rt.close()
    doc = p.to_json()
    doc["verified"] = p.verify()
    print(json.dumps(doc, ensure_ascii=False, indent=2))


@app.command(help=both("cli.ledger.checkpoint"))
def checkpoint(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Sign a checkpoint now (the act is itself ledgered)."""
    rt = open_runtime(data_dir, db, config)
    res = Resource("Ledger", "checkpoints", rt.settings.city_code)
    with rt.gate.system(
        SYSTEM_ACTOR,
        rt.settings.city_code,
        "ledger.checkpoint",
        res,
        request_id="cli-" + uuid.uuid4().hex[:12],
    ) as session:
        cp = rt.ledger.checkpoint(session, force=True)
        print(
            json.dumps(
                {
                    "tree_size": cp.tree_size,
                    "root_hash": cp.root_hash.hex(),
                    "ts": cp.ts.isoformat(),
                    "key_id": cp.key_id,
                }
            )
        )
    rt.close()


@app.command(help=both("cli.ledger.export"))
def export(
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write signed checkpoints and consistency proofs to a JSON file."""
    rt = open_runtime(data_dir, db, config)
    with rt.factory() as session:
        doc = rt.ledger.export_checkpoints(session)
    rt.close()
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"{len(doc['checkpoints'])} checkpoints → {out}")


@app.command("verify-export", help=both("cli.ledger.verify_export"))
def verify_exported(
    file: Annotated[Path, typer.Argument(help="file written by `ledger export`")],
    previous: Annotated[
        Path | None,
        typer.Option(help="an earlier export: pins its key, and all its checkpoints must remain"),
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="the ledger's public key (base64) you trust")
    ] = None,
) -> None:
    """Check every signature and consistency proof of an export; exit 1 if any fails."""
    doc = _read_json(file, "file")
    if previous is not None:
        earlier = _read_json(previous, "previous")
        if public_key is not None and earlier.get("public_key") != public_key:
            raise LedgerTampered("the previous export is not signed by --public-key")
        report = compare_exports(earlier, doc)
    else:
        report = verify_export(doc, public_key_b64=public_key)
    if not report.ok:
        raise LedgerTampered(report.reason or "export does not verify")
    console.print(f"export intact: {report.checked_checkpoints} checkpoints, size {report.size}")


@app.command("verify-bundle", help=both("cli.ledger.verify_bundle"))
def verify_evidence_bundle(
    file: Annotated[Path, typer.Argument(help="an evidence bundle (a finding's, a dispute's)")],
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="the ledger's `ledger export` file you hold: pins its key and roots"),
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="the ledger's public key (base64) you trust")
    ] = None,
) -> None:
    """Check, offline, that every entry of a bundle is in the log as signed; exit 1 if not."""
    doc = _read_json(file, "file")
    export = _read_json(checkpoints, "checkpoints") if checkpoints is not None else None
    if export is None and public_key is None:
        console.print(t("cli.ledger.verify_bundle.unpinned"))
    report = verify_bundle(doc, public_key_b64=public_key, export=export)
    if not report.ok:
        raise LedgerTampered(report.reason or "bundle does not verify")
    n = len(doc.get("entries") or [])
    console.print(f"bundle intact: {n} entries in the log of size {report.size}, signed")
