"""The admin console: static pages (HTML, ES modules, one stylesheet) served by the API itself under `/console/`,
calling the JSON API from the browser with the account's admin token. No build step and nothing fetched from
anywhere else: the files are `chalicelib/console/`, read once per process.

Every answer carries a strict Content-Security-Policy (scripts, styles and API calls from this origin only, no
inline script or style, no framing), `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import functools
from pathlib import Path

from chalice import Blueprint, Response

from chalicelib.api.http import RouteNotFound, path_param
from chalicelib.api.openapi import Answer, operation
from chalicelib.api.schemas import PATH_DESCRIPTIONS, PATH_PATTERNS

console = Blueprint(__name__)

FILES = Path(__file__).resolve().parent.parent / "console"
#: The console's files and their types: nothing else under /console/ is served.
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PATH_PATTERNS["asset"] = "^[a-z]{1,20}\\.(html|css|js)$"
PATH_DESCRIPTIONS["asset"] = "one of the console's files (index.html, app.js, console.css, ...)"
_TEXT = {"schema": {"type": "string"}}


@functools.lru_cache(maxsize=len(ASSETS))
def _read(name: str) -> str:
    return (FILES / name).read_text(encoding="utf-8")


def _file(name: str) -> Response:
    if name not in ASSETS:
        raise RouteNotFound("the console has no such file; it starts at /console/")
    headers: dict[str, str | list[str]] = {
        "Content-Type": ASSETS[name],
        "Cache-Control": "no-cache",
        **SECURITY_HEADERS,
    }
    return Response(body=_read(name), status_code=200, headers=headers)


@operation(
    console,
    "/console",
    tag="console",
    answers=[
        Answer(200, "the console's page (at `/console/`)", content={"text/html": _TEXT}),
        Answer(301, "`/console` moves to `/console/`, where the page's relative links work"),
    ],
    errors=(),
    secured=False,
)
def console_page() -> Response:
    """The admin console
    The opt-out desk in a browser: sign in with the account's admin token (kept in the tab's session storage)."""
    request = console.current_request
    path = str((request.context or {}).get("path") or "/console")
    if not path.endswith("/"):
        return Response(body="", status_code=301, headers={"Location": path + "/", **SECURITY_HEADERS})
    return _file("index.html")


@operation(
    console,
    "/console/{asset}",
    tag="console",
    answers=[
        Answer(
            200,
            "one of the console's files",
            content={"text/html": _TEXT, "text/javascript": _TEXT, "text/css": _TEXT},
        )
    ],
    errors=(404,),
    secured=False,
)
def console_asset(asset: str) -> Response:
    """One of the admin console's files
    Only the console's own files: anything else is a 404."""
    return _file(path_param(asset))
