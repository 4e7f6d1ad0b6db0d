"""The sharing package's routers and gate actions, for the application to mount."""

from __future__ import annotations

from citybrain.governance.sharing.api import register_gate_actions
from citybrain.governance.sharing.api import router as sharing_router
from citybrain.governance.sharing.lineage_api import router as lineage_router
from citybrain.governance.sharing.sandbox_api import router as sandbox_router

ROUTERS = (sharing_router, sandbox_router, lineage_router)

__all__ = ["ROUTERS", "register_gate_actions"]
