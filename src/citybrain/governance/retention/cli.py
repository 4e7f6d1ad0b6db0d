"""`citybrain retention ...`: apply retention terms now, verify a destruction certificate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from citybrain.governance.retention import service
from citybrain.kernel.cli_common import (
    ConfigOpt,
    DataDirOpt,
    DbOpt,
    LangOpt,
    locale_of,
    open_runtime,
)
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.i18n import both, t

app = typer.Typer(help=both("cli.retention"), no_args_is_help=True)


@app.command("run", help=both("cli.retention.run"))
def run(
    dataset: Annotated[str | None, typer.Option("--dataset", help="one dataset (slug)")] = None,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Destroy what has expired now; print one line per certificate issued."""
    rt = open_runtime(data_dir, db, config)
    console = Console()
    locale = locale_of(rt, lang)
    try:
        results = [service.destroy_expired(rt, dataset)] if dataset else service.run_all(rt)
        for r in results:
            if r.certificate is None:
                console.print(t("retention.nothing", locale, dataset=r.dataset))
            else:
                c = r.certificate
                console.print(
                    t("retention.destroyed", locale, dataset=c.dataset, count=c.count, code=c.code)
                )
    finally:
        rt.close()


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file", field="FILE") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not JSON ({exc})", field="FILE") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: not a destruction certificate", field="FILE")
    return doc


@app.command("verify", help=both("cli.retention.verify"))
def verify(
    file: Annotated[Path, typer.Argument(help="certificate JSON (GET /retention/certificates/…)")],
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="the hub's Ed25519 public key (base64); offline"),
    ] = None,
    lang: LangOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Check the signature and digest; without --public-key, also find the deletion in the
    ledger of the local hub. Exit 1 when anything does not hold."""
    doc = _load(file)
    console = Console()
    seq: int | None = None
    if public_key is not None:
        problems = service.verify_certificate(doc, public_key)
    else:
        rt = open_runtime(data_dir, db, config)
        try:
            problems = service.verify_certificate(doc, rt.signer.public_key_b64)
            with rt.reader() as session:
                seq, more = service.ledger_problems(session, doc)
            problems += more
        finally:
            rt.close()
    if problems:
        for p in problems:
            console.print(f"[red]✗[/red] {p}")
        raise typer.Exit(1)
    where = f", ledger entry {seq}" if seq is not None else ""
    locale = lang.value if lang else "zh-CN"
    console.print(f"[green]✓[/green] {t('retention.verified', locale, count=doc['count'])}{where}")
