"""Plugins: manifests validated, hooks called, routes mounted behind the gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citybrain.api.app import create_app
from citybrain.kernel.config import load_settings
from citybrain.kernel.errors import InvalidInput
from citybrain.kernel.plugins import PluginManager, discover, load_plugin, parse_manifest
from citybrain.kernel.runtime import Runtime
from tests.helpers import bearer, make_org, make_user


def test_manifest_errors_name_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_manifest('name = "x"\ntitle_zh = "甲"\ntitle_en = "A"\nlifecycle = "alive"\n', "m")
    assert err.value.field == "lifecycle"
    with pytest.raises(InvalidInput) as err:
        parse_manifest('name = "x"\ntitle_en = "A"\n', "m")
    assert err.value.field == "title_zh"
    with pytest.raises(InvalidInput) as err:
        parse_manifest('name = "x"\ntitle_zh = "甲"\ntitle_en = "A"\ncolour = 1\n', "m")
    assert err.value.field == "colour"


def test_discover_finds_only_valid_packages() -> None:
    names = [p.manifest.name for p in discover(include_entry_points=False)]
    assert len(names) == len(set(names))


def test_duplicate_plugin_refused() -> None:
    plugin = load_plugin("tests.plugin_sample")
    pm = PluginManager([plugin])
    with pytest.raises(InvalidInput):
        pm.register(plugin)


def test_plugin_route_is_gated_and_ledgered(tmp_path: Path) -> None:
    plugin = load_plugin("tests.plugin_sample")
    assert plugin.manifest.title_zh == "示例场景"
    rt = Runtime.open(load_settings(environ={}, data_dir=tmp_path), plugins=[plugin])
    rt.migrate()
    rt.bootstrap()
    rt.plugins.startup(rt)
    assert plugin.module.started[-1] is rt
    dept = make_org(rt, 300)
    clerk = make_user(rt, "pclerk", dept, "clerk")
    admin = rt.issue_token_for("admin")[0]
    with TestClient(create_app(rt)) as client:
        assert client.get("/scenarios/plugin_sample/free-spaces").status_code == 401
        r = client.get("/scenarios/plugin_sample/free-spaces", headers=bearer(clerk))
        assert r.status_code == 403  # no policy lets a clerk use parking data yet
        r = client.get("/scenarios/plugin_sample/free-spaces", headers=bearer(admin))
        assert r.status_code == 200 and r.json() == {"free": 42}
    with rt.factory() as s:
        last = rt.ledger.entry(s, rt.ledger.size(s) - 1)
    assert (last.data.action, last.data.resource) == ("use", "Dataset/parking.lots")
    rt.close()


def test_retired_plugin_is_not_mounted(tmp_path: Path) -> None:
    plugin = load_plugin("tests.plugin_sample")
    plugin.manifest = plugin.manifest.model_copy(update={"lifecycle": "retired"})
    pm = PluginManager([plugin])
    assert pm.routers() == []
    assert pm.active() == []
