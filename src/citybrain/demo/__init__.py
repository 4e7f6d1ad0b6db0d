"""The demo city: departments, datasets and simulated sensors that ``citybrain up`` starts with
when nothing is configured. Deterministic from a seed and an injected clock (DESIGN rule 9).

``city`` declares the organisations, datasets and districts; ``sensors`` generates NGSI-LD
readings; ``messages`` signs and packs them as stream messages; ``seed`` fills a runtime;
``runner`` keeps the sensors streaming in a background thread.
"""

from __future__ import annotations

from citybrain.demo.runner import DemoCity
from citybrain.demo.seed import DemoSummary, seed_demo

__all__ = ["DemoCity", "DemoSummary", "seed_demo"]
