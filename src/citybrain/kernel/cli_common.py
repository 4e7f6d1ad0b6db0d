"""Options every command accepts, and opening the runtime from them."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from citybrain.kernel.config import Settings, load_settings
from citybrain.kernel.gate import Resource
from citybrain.kernel.i18n import both
from citybrain.kernel.runtime import SYSTEM_ACTOR, Runtime

DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help=both("cli.opt.data_dir"), show_default=False)
]
DbOpt = Annotated[str | None, typer.Option("--db", help=both("cli.opt.db"), show_default=False)]


class Lang(StrEnum):
    """The languages a command prints in."""

    zh = "zh-CN"
    en = "en"


LangOpt = Annotated[Lang | None, typer.Option("--lang", help="zh-CN or en", show_default=False)]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help=both("cli.opt.config"), show_default=False)
]


def settings_from(
    data_dir: Path | None, db: str | None, config: Path | None, **flags: object
) -> Settings:
    """Settings from file, environment and these flags (flags win)."""
    return load_settings(config_file=config, data_dir=data_dir, db=db, **flags)


def open_runtime(
    data_dir: Path | None, db: str | None, config: Path | None, **flags: object
) -> Runtime:
    """Open the runtime for a command (one clear error, exit 2, if the database is down)."""
    return Runtime.open(settings_from(data_dir, db, config, **flags))


def locale_of(rt: Runtime, lang: Lang | None) -> str:
    """The language a command prints in: ``--lang``, else the city's default."""
    return lang.value if lang else rt.settings.default_locale


def operator_session(
    rt: Runtime, action: str, resource: Resource, purpose: str
) -> AbstractContextManager[Session]:
    """A session for the local operator's ``action`` on ``resource``, ledgered under the
    ``local-operator`` policy with a fresh ``cli-`` request id (the gate's ``system``)."""
    return rt.gate.system(
        SYSTEM_ACTOR,
        rt.settings.city_code,
        action,
        resource,
        request_id="cli-" + uuid.uuid4().hex[:12],
        purpose=purpose,
    )
