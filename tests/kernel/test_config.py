"""Configuration: defaults, TOML, environment, flags, and unknown keys refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from citybrain.kernel.config import load_settings
from citybrain.kernel.errors import ConfigError


def test_defaults() -> None:
    s = load_settings(environ={})
    assert s.data_dir == Path("citybrain-data")
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.database_url.startswith("sqlite:///")
    assert s.database_url.endswith("citybrain-data/citybrain.db")


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('port = 9001\nhost = "0.0.0.0"\ncity_name = "测试市"\n', encoding="utf-8")
    s = load_settings(config_file=cfg, environ={"CITYBRAIN_PORT": "9002"})
    assert (s.port, s.host, s.city_name) == (9002, "0.0.0.0", "测试市")
    s = load_settings(config_file=cfg, environ={"CITYBRAIN_PORT": "9002"}, port=9003)
    assert s.port == 9003


def test_config_file_in_data_dir_is_read(tmp_path: Path) -> None:
    (tmp_path / "citybrain.toml").write_text("[citybrain]\nport = 8123\n", encoding="utf-8")
    assert load_settings(environ={}, data_dir=tmp_path).port == 8123


def test_unknown_env_key_named() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"CITYBRAIN_PROT": "1"})
    assert err.value.field == "CITYBRAIN_PROT"
    assert "CITYBRAIN_PROT" in err.value.one_line()


def test_unknown_toml_key_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("colour = 'red'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(config_file=cfg, environ={})
    assert err.value.field == "colour"


def test_invalid_value_named() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"CITYBRAIN_PORT": "seventy"})
    assert err.value.field == "port"


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("port = = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(config_file=cfg, environ={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(config_file=tmp_path / "nope.toml", environ={})
