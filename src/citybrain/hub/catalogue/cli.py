"""`citybrain catalog ...`: list, show and search datasets. Thin over the catalogue service.

The local operator (a command with database access) reads through the gate's system path, so
every command leaves its ledger entry like an API call does.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy.orm import Session

from citybrain.hub.catalogue import service
from citybrain.hub.catalogue.api import register_gate_actions
from citybrain.hub.catalogue.schemas import SearchHit
from citybrain.kernel.cli_common import (
    ConfigOpt,
    DataDirOpt,
    DbOpt,
    open_runtime,
    operator_session,
)
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import Page
from citybrain.kernel.i18n import both, t
from citybrain.kernel.runtime import Runtime

app = typer.Typer(help=both("cli.catalog"), no_args_is_help=True)
console = Console()

ThemeOpt = Annotated[str | None, typer.Option("--theme", help="theme code")]
OrgOpt = Annotated[str | None, typer.Option("--org", help="provider credit code")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=500, help="at most this many")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _read(rt: Runtime, resource: Resource, purpose: str) -> AbstractContextManager[Session]:
    register_gate_actions()
    return operator_session(rt, "catalog.read", resource, purpose)


def _print(rt: Runtime, page: Page[SearchHit], as_json: bool) -> None:
    if as_json:
        typer.echo(page.model_dump_json(by_alias=True, indent=2))
        return
    if not page.items:
        console.print(t("cli.catalog.none", rt.settings.default_locale))
        return
    table = Table("title", "provider", "theme", "grade", "sharing", "open", "v")
    table.columns.insert(0, Column("id", no_wrap=True))
    for d in page.items:
        table.add_row(
            d.id,
            f"{d.title.zh} / {d.title.en}" if d.title.en else d.title.zh,
            d.provider.name,
            d.theme.zh,
            d.grade.zh,
            d.sharing.zh,
            "✓" if d.open_data else "",
            str(d.version),
        )
    console.print(table)


@app.command("list", help=both("cli.catalog.list"))
def list_(
    theme: ThemeOpt = None,
    org: OrgOpt = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List datasets in registration order."""
    rt = open_runtime(data_dir, db, config)
    try:
        with _read(rt, Resource("Catalogue", "datasets"), "cli list") as session:
            page = service.search(session, theme=theme, org=org, limit=limit)
        _print(rt, page, as_json)
    finally:
        rt.close()


@app.command(help=both("cli.catalog.show"))
def show(
    dataset_id: Annotated[str, typer.Argument(help="dataset id")],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print one dataset as JSON."""
    rt = open_runtime(data_dir, db, config)
    try:
        with rt.reader() as session:
            provider = service.provider_of(session, dataset_id)
        with _read(rt, Resource("Dataset", dataset_id, provider), "cli show") as session:
            out = service.dataset_out(service.get_dataset(session, dataset_id))
        typer.echo(
            json.dumps(out.model_dump(mode="json", by_alias=True), ensure_ascii=False, indent=2)
        )
    finally:
        rt.close()


@app.command(help=both("cli.catalog.search"))
def search(
    query: Annotated[str, typer.Argument(help="words to find (中文可用)")],
    theme: ThemeOpt = None,
    org: OrgOpt = None,
    limit: LimitOpt = 20,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Search datasets, best matches first."""
    rt = open_runtime(data_dir, db, config)
    try:
        with _read(rt, Resource("Catalogue", "search"), "cli search") as session:
            page = service.search(session, q=query, theme=theme, org=org, limit=limit)
        _print(rt, page, as_json)
    finally:
        rt.close()
