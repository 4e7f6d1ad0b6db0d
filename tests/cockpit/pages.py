"""What the cockpit page tests share: the page alone over settings, the configuration a page
carries in its ``data-config`` attribute, its scripts as one text, a message's placeholders."""

from __future__ import annotations

import html
import json
import re
import string
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI

from citybrain.kernel.config import load_settings


def page_only_app(tmp_path: Path, install: Callable[[FastAPI], None]) -> FastAPI:
    """Only the page (and /static) over settings: a shell needs no database."""
    app = FastAPI()
    app.state.runtime = SimpleNamespace(settings=load_settings(environ={}, data_dir=tmp_path))
    install(app)
    return app


def embedded_config(text: str, root_id: str) -> dict[str, Any]:
    """The JSON in the ``data-config`` attribute of the element ``id=root_id``."""
    found = re.search(rf'id="{root_id}"[^>]*data-config="([^"]*)"', text)
    assert found, "the page carries its configuration"
    return json.loads(html.unescape(found.group(1)))  # type: ignore[no-any-return]


def scripts_text(paths: Iterable[Path]) -> str:
    """The scripts' sources, one after the other."""
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def placeholders(message: str) -> set[str]:
    """The ``{names}`` a catalogue message fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}
