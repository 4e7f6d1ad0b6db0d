"""The NGSI-LD API's routers, and what the app must set up before serving them."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import event

from citybrain.hub.entities import api, batch_api, subscriptions_api, temporal_api
from citybrain.hub.entities.q import register_sqlite_functions
from citybrain.kernel.gate import register_action
from citybrain.kernel.runtime import Runtime

ROUTERS = (api.router, batch_api.router, temporal_api.router, subscriptions_api.router)
EXTRA_ACTIONS = {"entity.collect": "collect", "entity.notify": "access"}


def install_db_functions(runtime: Runtime) -> None:
    """Give SQLite connections the ``regexp`` function queries use (``idPattern``, ``~=``)."""
    engine = runtime.engine
    if engine.dialect.name != "sqlite":
        return
    event.listen(engine, "connect", lambda conn, _record: register_sqlite_functions(conn))
    engine.dispose()  # pooled connections were opened without it


def install(app: FastAPI, runtime: Runtime) -> None:
    """Register the entity gate actions and database functions (idempotent per runtime)."""
    api.register_gate_actions()
    for name, category in EXTRA_ACTIONS.items():
        register_action(name, category)
    if not getattr(runtime, "_ngsi_db_functions", False):
        install_db_functions(runtime)
        runtime._ngsi_db_functions = True  # type: ignore[attr-defined]
