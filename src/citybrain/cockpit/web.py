"""The cockpit's entry page (数字驾驶舱): the hub's state at a glance, in zh-CN or en."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from pydantic import BaseModel
from starlette.routing import Mount

from citybrain import __version__
from citybrain.cockpit.traffic_panel import read_panel
from citybrain.kernel.http import request_id
from citybrain.kernel.i18n import DEFAULT_LOCALE, LOCALES, catalogue, negotiate, t
from citybrain.kernel.runtime import Runtime
from citybrain.kernel.status import HubStatus, LedgerVerification, hub_status

HERE = Path(__file__).resolve().parent
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
# Nothing on the page comes from anywhere but this server (no CDN, DESIGN: cockpit).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Vary": "Accept-Language, Cookie",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

VerificationState = Literal["verified", "tampered", "unchecked"]


class CheckpointOut(BaseModel):
    """The last signed checkpoint."""

    size: int
    time: datetime
    key_id: str


class VerificationOut(BaseModel):
    """The outcome of the last full ledger verification (``unchecked`` before the first)."""

    state: VerificationState
    size: int | None = None
    first_bad_seq: int | None = None
    reason: str | None = None
    checked_at: datetime | None = None


class LedgerOut(BaseModel):
    """Ledger size, root hash (hex), last checkpoint and verification."""

    size: int
    root: str
    checkpoint: CheckpointOut | None
    verification: VerificationOut


class CityOut(BaseModel):
    """The city this hub serves."""

    name: str
    name_en: str


class StatusOut(BaseModel):
    """The hub's state: aggregate counts and ledger facts only, no governed records."""

    city: CityOut
    organisations: int
    users: int
    ledger: LedgerOut


def _utc(value: datetime) -> datetime:
    """Aware UTC (SQLite hands back naive datetimes that were stored as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _show_time(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short_hash(hex_root: str) -> str:
    return f"{hex_root[:12]}…{hex_root[-6:]}" if len(hex_root) > 20 else hex_root


def translator(locale: str) -> Callable[..., str]:
    """The template's ``_``: the catalogue message, values HTML-escaped unless already markup."""

    def _(key: str, **values: object) -> str:
        message = t(key, locale)
        return Markup.escape(message).format(**values) if values else message

    return _


def _state(v: LedgerVerification | None) -> VerificationState:
    return "unchecked" if v is None else ("verified" if v.ok else "tampered")


def _read_status(request: Request) -> tuple[Runtime, HubStatus]:
    runtime: Runtime = request.app.state.runtime
    verifier = getattr(request.app.state, "verifier", None)
    return runtime, hub_status(runtime, getattr(verifier, "last", None))


def _status_out(runtime: Runtime, status: HubStatus) -> StatusOut:
    v = status.verification
    checkpoint = None
    if status.checkpoint_size is not None and status.checkpoint_time is not None:
        checkpoint = CheckpointOut(
            size=status.checkpoint_size,
            time=_utc(status.checkpoint_time),
            key_id=status.checkpoint_key_id or "",
        )
    verification = VerificationOut(state=_state(v))
    if v is not None:
        verification = VerificationOut(
            state=_state(v),
            size=v.size,
            first_bad_seq=v.first_bad_seq,
            reason=v.reason or None,
            checked_at=_utc(v.checked_at),
        )
    return StatusOut(
        city=CityOut(name=runtime.settings.city_name, name_en=runtime.settings.city_name_en),
        organisations=status.organisations,
        users=status.users,
        ledger=LedgerOut(
            size=status.ledger_size,
            root=status.ledger_root,
            checkpoint=checkpoint,
            verification=verification,
        ),
    )


def request_locale(request: Request, default: str) -> str:
    """``?lang=``, then the ``lang`` cookie, then Accept-Language, then ``default``."""
    return negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        default,
    )


def prefixed_messages(prefix: str, locale: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every ``<prefix>*`` message (but those starting with one of ``skip``) in ``locale``,
    keyed without the prefix: what a page's script shows, embedded in the page."""
    keys = sorted(
        k for k in catalogue(DEFAULT_LOCALE) if k.startswith(prefix) and not k.startswith(skip)
    )
    return {key.removeprefix(prefix): t(key, locale) for key in keys}


def mount_static(app: FastAPI) -> None:
    """Serve the cockpit's ``/static`` (once, whichever page is installed first)."""
    if not any(isinstance(r, Mount) and r.path == "/static" for r in app.routes):
        app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def render_page(
    request: Request,
    template: str,
    page_path: str,
    build: Callable[[str], dict[str, object]],
) -> HTMLResponse:
    """A cockpit page in the request's locale (``?lang=`` also remembers the choice).

    ``build(locale)`` gives the template's own values; every page also gets ``_``, ``locale``,
    ``other_locale``, ``version`` and ``page_path`` (where the language switch points).
    """
    runtime = getattr(request.app.state, "runtime", None)
    default = runtime.settings.default_locale if runtime is not None else DEFAULT_LOCALE
    locale = request_locale(request, default)
    other = next(code for code in LOCALES if code != locale)
    html = env.get_template(template).render(
        _=translator(locale),
        locale=locale,
        other_locale=other,
        version=__version__,
        page_path=page_path,
        **build(locale),
    )
    response = HTMLResponse(html, headers={**PAGE_HEADERS, "Content-Language": locale})
    if request.query_params.get("lang") in LOCALES:
        response.set_cookie(
            LANG_COOKIE, locale, max_age=LANG_COOKIE_MAX_AGE, samesite="lax", httponly=True
        )
    return response


def _signed(value: float) -> str:
    """A whole number with its sign (``+12``, ``−5``, ``0``)."""
    n = round(value)
    return f"+{n}" if n > 0 else f"−{-n}" if n < 0 else "0"


def render_home(request: Request) -> HTMLResponse:
    """The home page in the request's locale (with the traffic panel when the hub has one)."""
    runtime, status = _read_status(request)
    settings = runtime.settings
    traffic = read_panel(runtime, request_id(request))

    def build(locale: str) -> dict[str, object]:
        return {
            "city": settings.city_name if locale == "zh-CN" else settings.city_name_en,
            "now": _utc(runtime.clock()),
            "status": status,
            "state": _state(status.verification),
            "short_hash": _short_hash,
            "num": "{:,}".format,
            "show_time": _show_time,
            "iso": lambda value: _utc(value).isoformat(),
            "traffic": traffic,
            "signed": _signed,
        }

    return render_page(request, "home.html", "/", build)


def install(app: FastAPI) -> None:
    """Mount the cockpit's static files and add ``/`` (HTML) and ``/status.json``."""
    mount_static(app)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        """The entry page of the cockpit."""
        return render_home(request)

    @app.get("/status.json", tags=["operations"], response_model=StatusOut)
    def status_json(request: Request) -> StatusOut:
        """The hub's state: organisation and user counts, ledger size, root, last signed
        checkpoint and the last integrity verification. Aggregates only."""
        runtime, status = _read_status(request)
        return _status_out(runtime, status)
