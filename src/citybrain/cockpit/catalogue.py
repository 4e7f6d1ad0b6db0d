"""The catalogue page (数据资源目录) at ``/catalogue``: the city's open datasets with search
(Chinese bigrams: ``交通`` finds ``交通信号灯配时``), read through the gate as the anonymous
principal, so only open data is listed and every view is ledgered like any other read."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse

from citybrain.cockpit.web import render_page
from citybrain.hub.catalogue import service
from citybrain.hub.catalogue.schemas import SearchHit
from citybrain.kernel.gate import Resource
from citybrain.kernel.http import PublicDep

PAGE_SIZE = 50


def _find(g: PublicDep, q: str | None) -> list[SearchHit]:
    """Open datasets matching ``q`` (all open datasets without one), best first."""
    purpose = f"catalogue page q={q or ''}"[:200]
    res = Resource("Catalogue", "page")
    with g.read("catalog.open", res, purpose=purpose, context={"open_data": True}) as s:
        return service.search(s, q=q, open_data=True, limit=PAGE_SIZE).items


def install_catalogue(app: FastAPI) -> None:
    """Add ``/catalogue``."""

    @app.api_route("/catalogue", methods=["GET", "HEAD"], include_in_schema=False)
    def catalogue_page(
        request: Request,
        g: PublicDep,
        q: Annotated[str | None, Query(max_length=100)] = None,
    ) -> HTMLResponse:
        """The open-data catalogue, searchable."""
        hits = _find(g, q.strip() if q else None)

        def build(locale: str) -> dict[str, object]:
            zh = locale == "zh-CN"
            return {
                "q": q or "",
                "hits": hits,
                "pick": lambda pair: pair.zh if zh or not pair.en else pair.en,
                "label": lambda lab: lab.zh if zh else lab.en,
            }

        return render_page(request, "catalogue.html", "/catalogue", build)
