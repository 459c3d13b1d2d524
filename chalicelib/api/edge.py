"""What belongs to the API as a whole: `GET /openapi.json`, the catch-all that answers a path no route has, and
the middleware that puts Chalice's own errors (405, an unhandled exception's 500) in the contract's shape.

API Gateway answers a path it has no resource for with its own 403 `{"message": "Missing Authentication Token"}`
before any code of ours runs; the `/{proxy+}` route gives every such path a resource, so it reaches the catch-all
(a contract 404). A method a resource lacks is still API Gateway's to answer (the stack's gateway responses put
that in the contract's shape). `chalice local` matches `/{proxy+}` as one path segment only: deeper unknown paths
still get its own 403 there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import INTERNAL_MESSAGE, RouteNotFound, error_response, json_errors, json_response
from chalicelib.api.openapi import CATCH_ALL_PATHS, OPERATIONS, Answer, document, operation
from chalicelib.wiring import container

#: The blueprint the catch-all is routed on (its `current_request` is the request being answered).
_root: Blueprint
#: Every method API Gateway may send to the catch-all.
CATCH_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
#: Chalice's error names whose contract code differs from the name in snake case.
_CODES = {"bad_request": "invalid_request", "unauthorized": "unauthenticated"}


def install(blueprint: Blueprint) -> None:
    """Route `GET /openapi.json` and the catch-all on `blueprint`, and register the middleware with it."""
    operation(
        blueprint,
        "/openapi.json",
        tag="meta",
        answers=[Answer(200, "this document", content={"application/json": {"schema": {"type": "object"}}})],
        errors=(),
        secured=False,
    )(openapi_json)
    global _root
    _root = blueprint
    root, proxy = CATCH_ALL_PATHS
    blueprint.route(root, methods=CATCH_ALL_METHODS, content_types=["*/*"])(json_errors(no_route_at_root))
    blueprint.route(proxy, methods=CATCH_ALL_METHODS, content_types=["*/*"])(json_errors(no_route))
    blueprint.middleware("http")(contract_errors)


def openapi_json() -> Response:
    """The OpenAPI 3.1 document of this API
    Generated from the models the views parse and answer; no token needed."""
    registry = container().carriers
    carriers = tuple(sorted(name for name in registry.provider_names() if registry.credentials_form(name)))
    return json_response(_document(carriers))


@functools.lru_cache(maxsize=4)
def _document(carriers: tuple[str, ...]) -> dict[str, Any]:
    return document(OPERATIONS, carriers=carriers)


def no_route() -> Response:
    raise RouteNotFound("there is no such path; the API's paths are in /openapi.json")


#: What `GET /` says, beside its redirect to the console (for a client that does not follow redirects).
ROOT_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SMS opt-out service</title></head><body>'
    '<p>The admin console is at <a href="{console}">{console}</a>; the API\'s contract at '
    '<a href="{openapi}">{openapi}</a>.</p></body></html>'
)


def no_route_at_root() -> Response:
    """`GET /` (and HEAD): a redirect to the console, with a page pointing to it and to the contract; any other
    method has no route here."""
    request = _root.current_request
    if request.method not in ("GET", "HEAD"):
        raise RouteNotFound("there is no such path; the API's paths are in /openapi.json")
    # The path the caller asked for (with a stage's prefix in API Gateway, e.g. /api/): links stay under it.
    base = str((request.context or {}).get("path") or "/")
    base = base if base.endswith("/") else base + "/"
    console, openapi = base + "console/", base + "openapi.json"
    headers: dict[str, str | list[str]] = {
        "Location": console,
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return Response(body=ROOT_PAGE.format(console=console, openapi=openapi), status_code=302, headers=headers)


def contract_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own error answers (`{"Code", "Message"}`: an unsupported method, an unhandled exception) in the
    contract's shape; a 5xx says nothing of its cause (Chalice has logged it)."""
    response = get_response(event)
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    status = response.status_code
    name = _snake(str(body["Code"]).removesuffix("Error"))
    code = "internal_error" if status >= 500 else _CODES.get(name, name)
    message = INTERNAL_MESSAGE if status >= 500 else str(body["Message"])
    answer = error_response(status, code, message)
    for name, value in response.headers.items():
        if name.lower() in ("allow", "www-authenticate"):
            answer.headers[name] = value
    return answer


def _snake(name: str) -> str:
    """`MethodNotAllowed` -> `method_not_allowed`."""
    return _CAMEL.sub("_", name).lower()
