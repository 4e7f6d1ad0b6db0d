"""Configuration: defaults < TOML file < ``CITYBRAIN_*`` environment < command-line flags."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from citybrain.kernel.errors import ConfigError

ENV_PREFIX = "CITYBRAIN_"
CONFIG_FILE_NAME = "citybrain.toml"


class Settings(BaseSettings):
    """Every setting CityBrain reads. Unknown keys are refused by name."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(Path("./citybrain-data"), description="data directory")
    db: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    city_name: str = "杭州市"
    city_name_en: str = "Hangzhou"
    city_code: str = Field("113301000024910207", description="root organisation credit code")
    default_locale: str = Field("zh-CN", pattern=r"^(zh-CN|en)$")
    token_ttl_s: int = Field(3600, gt=0)
    jwt_secret: str | None = Field(None, description="HS256 key; default: file in data_dir")
    report_identity_key: str | None = Field(
        None,
        description="AES-256-GCM key (base64, 32 bytes) sealing reporters' identities at the "
        "report desk; default: file report-identity.key in data_dir",
    )
    checkpoint_every: int = Field(1000, gt=0, description="sign a checkpoint every N entries")
    checkpoint_interval_s: float = Field(60.0, gt=0, description="... or every T seconds")
    ledger_origin: str = "citybrain.local/ledger"
    ledger_key_file: Path | None = None
    bus_url: str | None = Field(
        None,
        description="event bus: unset = in process; nats://host:4222[?stream=&prefix=] or "
        "mqtt://host:1883",
    )
    ingest_max_bytes: int = Field(64 * 1024 * 1024, gt=0, description="largest batch upload")
    ngsi_max_bytes: int = Field(4 * 1024 * 1024, gt=0, description="largest NGSI-LD request body")
    ngsi_context_hosts: list[str] = Field(
        default_factory=list,
        description="hosts a user @context may be fetched from (empty: none; '*': any public host)",
    )
    ngsi_context_max_bytes: int = Field(256 * 1024, gt=0, description="largest user @context")
    ngsi_context_timeout_s: float = Field(3.0, gt=0, description="user @context fetch timeout")
    ngsi_context_cache_s: float = Field(3600.0, ge=0, description="user @context cache lifetime")
    ngsi_notify_hosts: list[str] = Field(
        default_factory=list,
        description="hosts subscriptions may notify (empty: any host except link-local)",
    )
    ngsi_max_limit: int = Field(1000, gt=0, description="largest page of NGSI-LD query results")
    collect_mqtt_url: str | None = Field(
        None, description="collect entity streams from this MQTT broker (mqtt://host:1883)"
    )
    collect_nats_url: str | None = Field(
        None, description="collect entity streams from NATS JetStream (nats://host:4222)"
    )
    quality_interval_s: float = Field(60.0, gt=0, description="provider quality round interval")
    demo: bool = Field(
        True, description="seed and run the demo city in `citybrain up` (never in `serve`)"
    )
    demo_seed: int = Field(20211, description="seed of the demo city's simulated sensors")
    traffic_speed: float = Field(
        10.0,
        ge=0,
        description="the demo city's live traffic grid: simulated seconds per wall second "
        "(0 = do not run it)",
    )

    @field_validator("ngsi_context_hosts", "ngsi_notify_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """``a.example,b.example`` from the environment or a flag becomes a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(  # type: ignore[no-untyped-def]
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        """Only explicit values: load_settings merges file, environment and flags itself."""
        return (init_settings,)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in use."""
        if self.db:
            return self.db
        return f"sqlite:///{(self.data_dir / 'citybrain.db').resolve()}"

    @property
    def ledger_key_path(self) -> Path:
        """Where the Ed25519 checkpoint-signing key lives."""
        return self.ledger_key_file or self.data_dir / "ledger-ed25519.key"


def _known_keys() -> set[str]:
    return set(Settings.model_fields)


def _check_environment(environ: dict[str, str]) -> None:
    known = _known_keys() | {"config"}
    for name in environ:
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower()
            if key not in known:
                raise ConfigError(f"unknown setting {name}", field=name)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist", field="config") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}", field="config") from exc
    section = data.get("citybrain", data)
    for key in section:
        if key not in _known_keys():
            raise ConfigError(f"unknown setting {key!r} in {path}", field=key)
    return dict(section)


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from a TOML file, the environment and explicit overrides (flags).

    Raises ConfigError naming the first unknown or invalid key.
    """
    env = dict(os.environ if environ is None else environ)
    _check_environment(env)
    flags = {k: v for k, v in overrides.items() if v is not None}
    file_values: dict[str, Any] = {}
    path = config_file or (
        Path(env[ENV_PREFIX + "CONFIG"]) if ENV_PREFIX + "CONFIG" in env else None
    )
    if path is None:
        data_dir = Path(
            flags.get("data_dir") or env.get(ENV_PREFIX + "DATA_DIR") or "./citybrain-data"
        )
        candidate = data_dir / CONFIG_FILE_NAME
        path = candidate if candidate.exists() else None
    if path is not None:
        file_values = _read_toml(path)
    env_values = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in env.items()
        if k.startswith(ENV_PREFIX) and k != ENV_PREFIX + "CONFIG"
    }
    merged = {**file_values, **env_values, **flags}
    try:
        return Settings(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        raise ConfigError(f"{field}: {err['msg']}", field=field) from exc
