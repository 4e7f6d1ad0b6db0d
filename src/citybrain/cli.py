"""The `citybrain` command: Typer + Rich. Errors print one line and exit with their code."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from citybrain import __version__
from citybrain.governance.disputes.cli import app as disputes_app
from citybrain.governance.privacy.cli import app as privacy_app
from citybrain.governance.reportdesk.cli import app as reportdesk_app
from citybrain.governance.retention.cli import app as retention_app
from citybrain.governance.security.cli import app as security_app
from citybrain.governance.supervision.cli import app as supervision_app
from citybrain.hub.catalogue.cli import app as catalog_app
from citybrain.hub.quality.cli import app as quality_app
from citybrain.kernel import db as kdb
from citybrain.kernel.cli_common import ConfigOpt, DataDirOpt, DbOpt, open_runtime, settings_from
from citybrain.kernel.errors import CityBrainError, ConfigError, DatabaseUnavailable
from citybrain.kernel.i18n import both, t
from citybrain.kernel.identity.cli import org_app, token_app, user_app
from citybrain.kernel.ledger_cli import app as ledger_app
from citybrain.kernel.runtime import Runtime
from citybrain.scenarios.traffic.cli import app as traffic_app

app = typer.Typer(
    name="citybrain",
    help=both("cli.app"),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help=both("cli.db"), no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(token_app, name="token")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(catalog_app, name="catalog")
app.add_typer(quality_app, name="quality")
app.add_typer(traffic_app, name="traffic")
app.add_typer(retention_app, name="retention")
app.add_typer(privacy_app, name="privacy")
app.add_typer(supervision_app, name="supervision")
app.add_typer(reportdesk_app, name="reportdesk")
app.add_typer(security_app, name="security")
app.add_typer(disputes_app, name="disputes")
console = Console()
err_console = Console(stderr=True)

HostOpt = Annotated[str | None, typer.Option("--host", help="listen address", show_default=False)]
PortOpt = Annotated[int | None, typer.Option("--port", help="listen port", show_default=False)]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"citybrain {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    """CityBrain 城市大脑."""


def _check_port(host: str, port: int) -> None:
    """Refuse a busy address with one line naming it, before anything starts."""
    import socket

    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port",
                field="port",
            ) from exc


def _serve(rt: Runtime, host: str, port: int, *, demo: bool = False) -> None:
    """Serve the app with its background services (see api.services); clean up on any exit."""
    import uvicorn

    from citybrain.api.app import create_app
    from citybrain.api.services import Background

    _check_port(host, port)
    application = create_app(rt)
    background = Background(rt, application, console=console, demo=demo)
    try:
        background.start()
    except BaseException:
        background.stop()
        rt.close()
        raise
    rt.plugins.startup(rt)
    config = uvicorn.Config(application, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    loc = rt.settings.default_locale

    original_startup = server.startup

    async def startup(sockets: object = None) -> None:
        await original_startup(sockets)  # type: ignore[arg-type]
        for srv in server.servers:
            for sock in srv.sockets:
                bound = sock.getsockname()
                console.print(t("cli.up.listening", loc, url=f"http://{bound[0]}:{bound[1]}/"))
                sys.stdout.flush()
                return

    server.startup = startup  # type: ignore[method-assign]

    def _terminated(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # uvicorn re-raises SIGTERM after its graceful stop; clean up too

    signal.signal(signal.SIGTERM, _terminated)
    try:
        server.run()
    finally:
        background.stop()
        rt.plugins.shutdown(rt)
        rt.close()  # SQLite folds its WAL back into the file


@app.command(help=both("cli.up"))
def up(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
) -> None:
    """Migrate the database, create the city and its administrator on first start, serve."""
    rt = open_runtime(data_dir, db, config, host=host, port=port)
    loc = rt.settings.default_locale
    rt.migrate()
    console.print(t("cli.up.migrated", loc, revision=kdb.current_revision(rt.engine)))
    password = rt.bootstrap()
    if password:
        console.print(t("cli.up.admin_created", loc, password=password), highlight=False)
    _serve(rt, rt.settings.host, rt.settings.port, demo=True)


@app.command(help=both("cli.serve"))
def serve(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
) -> None:
    """Serve an already migrated and bootstrapped database."""
    rt = open_runtime(data_dir, db, config, host=host, port=port)
    _serve(rt, rt.settings.host, rt.settings.port)


@app.command(help=both("cli.scenarios"))
def scenarios(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List the scenario plugins found, with their lifecycle state."""
    from rich.table import Table

    from citybrain.kernel.plugins import discover

    settings_from(data_dir, db, config)  # refuse bad configuration the same way
    table = Table("name", "title", "lifecycle", "datasets", "indicators", "source")
    for p in discover():
        m = p.manifest
        table.add_row(
            m.name,
            f"{m.title_zh} / {m.title_en}",
            m.lifecycle,
            ", ".join(m.datasets),
            ", ".join(m.indicators),
            p.source,
        )
    console.print(table)


@db_app.command("upgrade", help=both("cli.db.upgrade"))
def db_upgrade(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Apply migrations up to head."""
    rt = open_runtime(data_dir, db, config)
    rt.migrate()
    console.print(
        t("cli.up.migrated", rt.settings.default_locale, revision=kdb.current_revision(rt.engine))
    )
    rt.close()


@db_app.command("current", help=both("cli.db.current"))
def db_current(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Print the database's schema revision (or 'none')."""
    rt = open_runtime(data_dir, db, config)
    typer.echo(kdb.current_revision(rt.engine) or "none")
    rt.close()


def main() -> None:
    """Entry point: run the app, turning CityBrain errors into one line and an exit code."""
    try:
        app()
    except CityBrainError as exc:
        err_console.print(exc.one_line(), highlight=False, soft_wrap=True, markup=False)
        sys.exit(exc.exit_code)
    except OperationalError as exc:
        err = DatabaseUnavailable(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc))
        err_console.print(err.one_line(), highlight=False, soft_wrap=True, markup=False)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
