"""The public report page (举报) at ``/report``: filled in by the report desk."""

from __future__ import annotations

from fastapi import FastAPI


def install_report_page(app: FastAPI) -> None:
    """Mount the report page (nothing yet)."""
