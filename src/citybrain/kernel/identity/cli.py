"""`citybrain org|user|token ...`: identity commands for the local operator. Thin."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from citybrain.kernel.cli_common import ConfigOpt, DataDirOpt, DbOpt, open_runtime
from citybrain.kernel.gate import Resource
from citybrain.kernel.i18n import both
from citybrain.kernel.identity import service
from citybrain.kernel.identity.models import Organisation
from citybrain.kernel.runtime import SYSTEM_ACTOR

org_app = typer.Typer(help=both("cli.org"), no_args_is_help=True)
user_app = typer.Typer(help=both("cli.user"), no_args_is_help=True)
token_app = typer.Typer(help=both("cli.token"), no_args_is_help=True)
console = Console()


def _rid() -> str:
    return "cli-" + uuid.uuid4().hex[:12]


@token_app.command("create", help=both("cli.token.create"))
def token_create(
    user: Annotated[str, typer.Option("--user", help="user name")],
    ttl: Annotated[int | None, typer.Option("--ttl", help="lifetime in seconds")] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print a bearer token for USER as the last line of output."""
    rt = open_runtime(data_dir, db, config)
    token, exp = rt.issue_token_for(user, ttl)
    rt.close()
    typer.echo(f"# expires {exp.isoformat()}", err=True)
    typer.echo(token)


@org_app.command("create", help=both("cli.org.create"))
def org_create(
    code: Annotated[str, typer.Option(help="unified social credit code")],
    name: Annotated[str, typer.Option(help="name (Chinese)")],
    kind: Annotated[str, typer.Option(help="government|department|enterprise|other")],
    level: Annotated[str, typer.Option(help="city|district|department|unit")],
    parent: Annotated[str | None, typer.Option(help="parent credit code (default: city)")] = None,
    name_en: Annotated[str, typer.Option(help="English name")] = "",
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create an organisation under PARENT."""
    rt = open_runtime(data_dir, db, config)
    code = service.validate_credit_code(code)
    parent_code = parent or rt.settings.city_code
    with rt.gate.system(
        SYSTEM_ACTOR,
        rt.settings.city_code,
        "org.create",
        Resource("Organisation", code, parent_code),
        request_id=_rid(),
    ) as session:
        service.create_organisation(
            session,
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            level=level,
            parent_code=parent_code,
            clock=rt.clock,
        )
    rt.close()
    console.print(f"created {code} {name}")


@org_app.command("list", help=both("cli.org.list"))
def org_list(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Every organisation with its parent."""
    rt = open_runtime(data_dir, db, config)
    table = Table("code", "name", "kind", "level", "parent")
    with rt.factory() as session:
        for org in session.scalars(select(Organisation).order_by(Organisation.id)):
            table.add_row(
                org.code, org.name, org.kind, org.level, org.parent.code if org.parent else ""
            )
    rt.close()
    console.print(table)


@user_app.command("create", help=both("cli.user.create"))
def user_create(
    name: Annotated[str, typer.Option(help="login name")],
    org: Annotated[str, typer.Option(help="organisation credit code")],
    post: Annotated[list[str], typer.Option(help="post name (repeatable)")],
    role: Annotated[
        str | None, typer.Option(help="create the post with this role if missing")
    ] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a user; prints a one-time password."""
    rt = open_runtime(data_dir, db, config)
    with rt.gate.system(
        SYSTEM_ACTOR,
        rt.settings.city_code,
        "user.create",
        Resource("User", name, org),
        request_id=_rid(),
    ) as session:
        if role:
            for p in post:
                try:
                    service.get_post(session, org, p)
                except service.NotFound:
                    service.create_post(session, organisation_code=org, name=p, role=role)
        _, otp = service.create_user(
            session, name=name, organisation_code=org, posts=post, clock=rt.clock
        )
    rt.close()
    console.print(f"created {name}; one-time password / 一次性密码: {otp}")


@user_app.command("reset-password", help=both("cli.user.reset_password"))
def user_reset_password(
    name: Annotated[str, typer.Option(help="login name")],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Give USER a new one-time password."""
    import secrets

    rt = open_runtime(data_dir, db, config)
    with rt.factory() as session:
        org = service.get_user(session, name).organisation.code
    otp = secrets.token_urlsafe(12)
    with rt.gate.system(
        SYSTEM_ACTOR,
        org,
        "user.update",
        Resource("User", name, org),
        request_id=_rid(),
        purpose="reset password",
    ) as session:
        user = service.get_user(session, name)
        user.password_hash = service.hash_password(otp)
        user.must_change_password = True
    rt.close()
    console.print(f"{name}: one-time password / 一次性密码: {otp}")
