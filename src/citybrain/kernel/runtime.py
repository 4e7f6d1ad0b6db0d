"""The running kernel: one object that holds the engine, ledger, policy engine, gate and bus."""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from citybrain.kernel import db
from citybrain.kernel.bus import make_bus
from citybrain.kernel.clock import Clock, system_clock
from citybrain.kernel.config import Settings
from citybrain.kernel.errors import ConfigError, Unauthenticated
from citybrain.kernel.events import EventBus
from citybrain.kernel.gate import Gate, Resource, register_action
from citybrain.kernel.identity import service as identity
from citybrain.kernel.identity.models import Organisation, User
from citybrain.kernel.identity.throttle import LoginThrottle
from citybrain.kernel.plugins import Plugin, PluginManager, discover
from citybrain.kernel.policy import service as policies
from citybrain.kernel.policy.engine import PolicyEngine
from citybrain.ledger.service import GroupCommitter, Ledger
from citybrain.ledger.signing import CheckpointSigner

SYSTEM_ACTOR = "system:cli"


def _read_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value


def _refuse_lost_key(engine: Engine, key_path: Path) -> None:
    """A missing key beside a ledger that has checkpoints is restored, never silently replaced."""
    if key_path.exists() or not inspect(engine).has_table("ledger_checkpoints"):
        return
    with engine.connect() as conn:
        signed = conn.execute(text("SELECT count(*) FROM ledger_checkpoints")).scalar()
    if signed:
        raise ConfigError(
            f"the ledger has {signed} signed checkpoints but the signing key {key_path} is "
            "missing; restore it from backup (a new key would make every checkpoint unverifiable)",
            field="ledger_key_file",
        )


def _refuse_foreign_key(engine: Engine, signer: CheckpointSigner, key_path: Path) -> None:
    """The key file must be the one that signed the newest checkpoint (no rotation yet)."""
    if not inspect(engine).has_table("ledger_checkpoints"):
        return
    with engine.connect() as conn:
        key_id = conn.execute(
            text("SELECT key_id FROM ledger_checkpoints ORDER BY id DESC LIMIT 1")
        ).scalar()
    if key_id is not None and key_id != signer.key_id:
        raise ConfigError(
            f"{key_path} holds key {signer.key_id}, but the ledger's checkpoints are signed by "
            f"{key_id}; restore the right key file (key rotation is not supported yet)",
            field="ledger_key_file",
        )


@dataclass
class Runtime:
    """Everything a request, a command or a test needs, built once from settings."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    ledger: Ledger
    signer: CheckpointSigner
    policy_engine: PolicyEngine
    gate: Gate
    bus: EventBus
    jwt_secret: str
    plugins: PluginManager
    reader: sessionmaker[Session]
    clock: Clock = field(default=system_clock)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        plugins: list[Plugin] | None = None,
    ) -> Runtime:
        """Connect (one clear error if the database is down) and load keys from the data dir.

        ``plugins`` defaults to every discovered scenario and entry-point plugin.
        """
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = db.make_engine(settings.database_url)
        db.check_connection(engine)
        db.restrict_file(engine)
        factory = db.session_factory(engine)
        _refuse_lost_key(engine, settings.ledger_key_path)
        signer = CheckpointSigner.load_or_create(settings.ledger_key_path)
        _refuse_foreign_key(engine, signer, settings.ledger_key_path)
        ledger = Ledger(
            signer,
            origin=settings.ledger_origin,
            checkpoint_every=settings.checkpoint_every,
            checkpoint_interval_s=settings.checkpoint_interval_s,
            clock=clock,
        )
        policy_engine = PolicyEngine()
        the_bus = bus or make_bus(settings.bus_url)
        reader = db.readonly_factory(engine)
        committer = GroupCommitter(ledger, factory)
        gate = Gate(factory, ledger, policy_engine, the_bus, reader=reader, committer=committer)
        secret = settings.jwt_secret or _read_or_create_secret(settings.data_dir / "jwt.secret")
        manager = PluginManager(discover() if plugins is None else plugins)
        for action, category in manager.gate_actions().items():
            register_action(action, category)
        return cls(
            settings=settings,
            engine=engine,
            factory=factory,
            ledger=ledger,
            signer=signer,
            policy_engine=policy_engine,
            gate=gate,
            bus=the_bus,
            jwt_secret=secret,
            plugins=manager,
            reader=reader,
            clock=clock,
        )

    def close(self) -> None:
        """Commit what the group committer holds, then release database connections."""
        if self.gate.committer is not None:
            self.gate.committer.close()
        closer = getattr(self.bus, "close", None)
        if callable(closer):
            closer()
        self.engine.dispose()

    def migrate(self) -> None:
        """Apply migrations up to head."""
        db.upgrade(self.engine)

    def root_organisation(self, session: Session) -> Organisation | None:
        """The city's root organisation, if created."""
        return session.scalar(
            select(Organisation).where(Organisation.parent_id.is_(None)).order_by(Organisation.id)
        )

    def bootstrap(self) -> str | None:
        """First start: default policies, the city's root organisation and ``admin``; on later
        starts, only default policies added since (by name).

        Returns the administrator's one-time password when it was just created, else None.
        """
        request_id = "bootstrap-" + uuid.uuid4().hex[:12]
        s = self.settings
        with self.factory() as session:
            has_root = self.root_organisation(session) is not None
            has_admin = session.scalar(select(User.id).where(User.name == "admin")) is not None
            known = policies.known_names(session)
        missing = [p for p in policies.default_policies() if p[0] not in known]
        if missing:
            # New default policies arrive with upgrades; a name that exists (even deactivated or
            # edited by the city) is never touched.
            for name, description, text in missing:
                res = Resource("Policy", name)
                with self.gate.system(
                    SYSTEM_ACTOR, s.city_code, "policy.create", res, request_id=request_id
                ) as session:
                    policies.create_policy(
                        session,
                        name=name,
                        text=text,
                        description=description,
                        created_by=SYSTEM_ACTOR,
                        clock=self.clock,
                    )
            self.policy_engine.invalidate()
        if not has_root:
            res = Resource("Organisation", s.city_code)
            with self.gate.system(
                SYSTEM_ACTOR, s.city_code, "org.create", res, request_id=request_id
            ) as session:
                identity.create_organisation(
                    session,
                    code=s.city_code,
                    name=s.city_name,
                    name_en=s.city_name_en,
                    kind="government",
                    level="city",
                    clock=self.clock,
                )
                identity.create_post(
                    session,
                    organisation_code=s.city_code,
                    name="administrator",
                    role="admin",
                    title="系统管理员 / Administrator",
                )
        if has_admin:
            return None
        res = Resource("User", "admin", s.city_code)
        with self.gate.system(
            SYSTEM_ACTOR, s.city_code, "user.create", res, request_id=request_id
        ) as session:
            _, password = identity.create_user(
                session,
                name="admin",
                organisation_code=s.city_code,
                posts=["administrator"],
                display_name="管理员 / Administrator",
                clock=self.clock,
            )
        return password

    def issue_token_for(self, name: str, ttl_s: int | None = None) -> tuple[str, datetime]:
        """A bearer token for user ``name`` issued by the local operator (ledgered)."""
        with self.reader() as session:
            user = identity.get_user(session, name)
            org = user.organisation.code
            if user.disabled:
                raise Unauthenticated(f"user {name!r} is disabled", field="user")
        res = Resource("User", name, org)
        with self.gate.system(
            SYSTEM_ACTOR, org, "token.create", res, request_id="cli-" + uuid.uuid4().hex[:12]
        ) as session:
            user = identity.get_user(session, name)
            return identity.issue_token(
                user, self.jwt_secret, ttl_s or self.settings.token_ttl_s, self.clock
            )
