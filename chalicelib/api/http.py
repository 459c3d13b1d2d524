"""What every view shares: reading bodies, parsing them into models, and the one error mapping."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.domain import errors
from chalicelib.observability import logger

Model = TypeVar("Model", bound=BaseModel)

#: Domain error -> HTTP status. Anything not listed is a bug and answers 500.
STATUS = {
    errors.InvalidRequest: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.InvalidSignature: 403,
    errors.CarrierNotConfigured: 403,
    errors.AccountNotFound: 404,
    errors.UnknownCarrier: 404,
    errors.MessageNotFound: 404,
    errors.NotSuppressed: 404,
    errors.RequestNotFound: 404,
    errors.LiftRefused: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.StoreUnavailable: 503,
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, challenge: str = "Bearer"
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if status == 401:
        headers["WWW-Authenticate"] = challenge
    if status == 503:
        headers["Retry-After"] = "1"
    return Response(body=json.dumps({"error": body}), status_code=status, headers=headers)


def _status_of(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def json_errors(view: Callable[..., Response | Any]) -> Callable[..., Response | Any]:
    """Turn domain and validation errors into `{"error": {"code", "message"}}` responses."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response | Any:
        try:
            return view(*args, **kwargs)
        except errors.DomainError as error:
            status = _status_of(error)
            if status >= 500:
                logger.error("request not recorded", extra={"code": error.code, "reason": error.message})
            elif isinstance(error, errors.InvalidSignature) and error.reason:
                logger.warning("webhook refused", extra={"code": error.code, "reason": error.reason})
            challenge = error.challenge if isinstance(error, errors.CredentialsRequired) else "Bearer"
            return error_response(status, error.code, error.message, error.details, challenge)
        except ValidationError as error:
            return error_response(
                400, "invalid_request", "the request is not valid", {"errors": describe_errors(error)}
            )

    return wrapper


def describe_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in item["loc"]), "problem": item["msg"]}
        for item in error.errors(include_url=False, include_input=False)
    ]


def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing anything over `max_bytes` (413)."""
    body = request.raw_body or b""
    if isinstance(body, str):
        body = body.encode()
    if len(body) > max_bytes:
        raise errors.PayloadTooLarge(f"the body is larger than {max_bytes} bytes", limit=max_bytes)
    return body


def require_content_type(request: Request, *expected: str) -> None:
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in expected:
        raise errors.UnsupportedMediaType(f"send Content-Type: {' or '.join(expected)}", received=content_type or None)


def parse_json(request: Request, model: type[Model], max_bytes: int, context: dict[str, Any] | None = None) -> Model:
    """The JSON body as `model`: 415 when it is not JSON, 400 when it does not fit."""
    require_content_type(request, "application/json")
    body = read_body(request, max_bytes)
    if not body.strip():
        raise errors.InvalidRequest("the body is empty; send a JSON object")
    try:
        return model.model_validate_json(body, context=context)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise errors.InvalidRequest("the body is not valid JSON") from None
        raise


def path_param(value: str) -> str:
    """`chalice local` passes path parameters undecoded; API Gateway decodes them. Decode once."""
    return unquote(value)


def query_param(request: Request, name: str) -> str | None:
    if not request.query_params:
        return None
    value = request.query_params.get(name)
    return str(value) if value is not None else None


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = query_param(request, name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise errors.InvalidRequest(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body, default=str)
    return Response(body=payload, status_code=status, headers={"Content-Type": "application/json", **(headers or {})})
