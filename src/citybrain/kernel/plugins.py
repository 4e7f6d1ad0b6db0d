"""Plugins (Datasette / Home Assistant lesson): hook specifications, manifests, discovery.

A scenario is a package under ``citybrain.scenarios`` (or any package registered through the
``citybrain.plugins`` entry point group) with a ``manifest.toml`` beside its ``__init__.py`` and
a module exposing hook implementations marked with ``hookimpl``. The core discovers them; the
cockpit lists them; a scenario is put online, evaluated and retired by changing its lifecycle
state, without touching core code.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from types import ModuleType
from typing import Any, Literal

import pluggy
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from citybrain.kernel.errors import InvalidInput

PROJECT = "citybrain"
ENTRY_POINT_GROUP = "citybrain.plugins"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Lifecycle = Literal["draft", "online", "evaluating", "retired"]


class Manifest(BaseModel):
    """What a scenario declares about itself in ``manifest.toml``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    description_zh: str = ""
    description_en: str = ""
    articles: list[str] = Field(default_factory=list, description="regulation articles served")
    datasets: list[str] = Field(default_factory=list, description="datasets used")
    indicators: list[str] = Field(default_factory=list, description="indicators provided")
    lifecycle: Lifecycle = "draft"
    version: str = "0.1.0"


class HookSpecs:
    """Every hook a plugin may implement."""

    @hookspec
    def citybrain_gate_actions(self) -> dict[str, str]:  # type: ignore[empty-body]
        """Gate actions the plugin uses, mapped to their ledger category (collect, share, ...)."""

    @hookspec
    def citybrain_routers(self) -> list[Any]:  # type: ignore[empty-body]
        """FastAPI routers to mount; every governed route must use the gate dependency."""

    @hookspec
    def citybrain_startup(self, runtime: Any) -> None:
        """Called once when the platform starts (subscribe to events, start workers)."""

    @hookspec
    def citybrain_shutdown(self, runtime: Any) -> None:
        """Called once when the platform stops."""


@dataclass
class Plugin:
    """A discovered plugin: its manifest and the module holding its hooks."""

    manifest: Manifest
    module: ModuleType
    source: str = "builtin"
    extra: dict[str, Any] = field(default_factory=dict)


def parse_manifest(text: str, where: str) -> Manifest:
    """Validate a manifest; InvalidInput names the file and the field."""
    try:
        return Manifest.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{where}: {exc}", field="manifest") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or "manifest"
        raise InvalidInput(f"{where}: {name}: {err['msg']}", field=name) from exc


def load_plugin(package: str, source: str = "builtin") -> Plugin:
    """Import ``package`` and read its ``manifest.toml``."""
    module = importlib.import_module(package)
    where = f"{package}/manifest.toml"
    text = resources.files(package).joinpath("manifest.toml").read_text("utf-8")
    manifest = parse_manifest(text, where)
    if manifest.name != package.rsplit(".", 1)[-1]:
        raise InvalidInput(f"{where}: name {manifest.name!r} must match the folder", field="name")
    return Plugin(manifest, module, source)


def discover(include_entry_points: bool = True) -> list[Plugin]:
    """Scenario packages under ``citybrain.scenarios`` plus entry-point plugins."""
    scenarios = importlib.import_module("citybrain.scenarios")  # discovered, not depended on
    found: list[Plugin] = []
    for info in pkgutil.iter_modules(scenarios.__path__):
        if info.ispkg:
            pkg = f"citybrain.scenarios.{info.name}"
            if resources.files(pkg).joinpath("manifest.toml").is_file():
                found.append(load_plugin(pkg))
    if include_entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            found.append(load_plugin(ep.value, source=f"entry point {ep.name}"))
    return found


class PluginManager:
    """Registers plugins with pluggy and calls their hooks."""

    def __init__(self, plugins: list[Plugin] | None = None) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(HookSpecs)
        self.plugins: dict[str, Plugin] = {}
        for plugin in plugins or []:
            self.register(plugin)

    def register(self, plugin: Plugin) -> None:
        """Add a plugin; a second plugin of the same name is refused."""
        name = plugin.manifest.name
        if name in self.plugins:
            raise InvalidInput(f"two plugins named {name!r}", field="name")
        self.plugins[name] = plugin
        if plugin.manifest.lifecycle != "retired":
            self.pm.register(plugin.module, name=name)

    def active(self) -> list[Plugin]:
        """Plugins not retired, by name."""
        return [p for n, p in sorted(self.plugins.items()) if p.manifest.lifecycle != "retired"]

    def gate_actions(self) -> dict[str, str]:
        """All gate actions declared by active plugins."""
        merged: dict[str, str] = {}
        for actions in self.pm.hook.citybrain_gate_actions():
            merged.update(actions or {})
        return merged

    def routers(self) -> list[Any]:
        """All routers of active plugins."""
        return [r for batch in self.pm.hook.citybrain_routers() for r in (batch or [])]

    def startup(self, runtime: Any) -> None:
        """Call every plugin's startup hook."""
        self.pm.hook.citybrain_startup(runtime=runtime)

    def shutdown(self, runtime: Any) -> None:
        """Call every plugin's shutdown hook."""
        self.pm.hook.citybrain_shutdown(runtime=runtime)
