"""What every view shares: reading bodies, parsing them into models, and the one error mapping."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin
from urllib.parse import unquote

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.domain import errors
from chalicelib.observability import logger

Model = TypeVar("Model", bound=BaseModel)


class InvalidCursor(errors.InvalidRequest):
    """A listing's `cursor` that this deployment did not sign for that listing (or that its store refused)."""

    code = "invalid_cursor"


class RouteNotFound(errors.DomainError):
    """No route answers this path (the catch-all's answer)."""

    code = "not_found"


class ConfigurationError(Exception):
    """A deployment setting is missing or wrong: the request cannot be served (500), and the log says which."""


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
    RouteNotFound: 404,
    errors.LiftRefused: 409,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.StoreUnavailable: 503,
}


#: What a 503 says: the same words whatever failed (the cause goes to the log, never to the caller).
RETRY_MESSAGE = "the service could not complete the request now; retry"
#: What a 500 says.
INTERNAL_MESSAGE = "the service failed to answer this request; the failure is logged"


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
    """Turn every error into a `{"error": {"code", "message", "details"?}}` response.

    Domain errors get their status (STATUS); a 5xx says only "retry" (503) or that it failed (500), with the cause
    logged and never echoed; a pydantic ValidationError is a 400; anything else is a bug: a 500 `internal_error`,
    logged with its traceback.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response | Any:
        try:
            return view(*args, **kwargs)
        except errors.DomainError as error:
            status = _status_of(error)
            if status >= 500:
                logger.error("request not recorded", extra={"code": error.code, "reason": error.message})
                return error_response(status, error.code, RETRY_MESSAGE if status == 503 else INTERNAL_MESSAGE)
            if isinstance(error, errors.InvalidSignature) and error.reason:
                logger.warning("webhook refused", extra={"code": error.code, "reason": error.reason})
            challenge = error.challenge if isinstance(error, errors.CredentialsRequired) else "Bearer"
            return error_response(status, error.code, error.message, error.details, challenge)
        except ValidationError as error:
            return error_response(
                400, "invalid_request", "the request is not valid", {"errors": describe_errors(error)}
            )
        except ConfigurationError as error:
            logger.error("configuration error", extra={"reason": str(error)})
            return error_response(500, "internal_error", INTERNAL_MESSAGE)
        except Exception:  # the edge: a bug must still answer in the contract's shape, and say nothing of itself
            logger.exception("unhandled error")
            return error_response(500, "internal_error", INTERNAL_MESSAGE)

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
    """The JSON body as `model`, strictly (no "yes" for true, no "1" for 1): 415 when it is not JSON, 400 when it
    does not fit."""
    require_content_type(request, "application/json")
    body = read_body(request, max_bytes)
    if not body.strip():
        raise errors.InvalidRequest("the body is empty; send a JSON object")
    return parse_json_text(model, body, context)


def parse_json_text(model: type[Model], body: bytes | str, context: dict[str, Any] | None = None) -> Model:
    """`body` (JSON text) as `model`, in strict mode; 400 when it is not JSON or does not fit."""
    try:
        return model.model_validate_json(body, strict=True, context=context)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise errors.InvalidRequest("the body is not valid JSON") from None
        raise


def parse_query(request: Request, model: type[Model], context: dict[str, Any] | None = None) -> Model:
    """The query string as `model` (400 when it does not fit, names it does not take included). A list field takes
    every value of its name; any other field the last one, as API Gateway does."""
    params = request.query_params
    raw: dict[str, Any] = {}
    if params is None:
        return model.model_validate(raw, context=context)
    for name in params:
        values = [str(value) for value in params.getlist(name)]
        field = model.model_fields.get(name)
        raw[name] = values if field is not None and _is_list(field.annotation) else values[-1]
    return model.model_validate(raw, context=context)


def _is_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple):
        return True
    return any(_is_list(arg) for arg in get_args(annotation)) if origin is not None else False


def path_param(value: str) -> str:
    """`chalice local` passes path parameters undecoded; API Gateway decodes them. Decode once."""
    return unquote(value)


#: ASCII decimal digits only: `str.isdigit()` also takes superscripts, full-width and Arabic-Indic digits.
ASCII_DECIMAL = re.compile(r"[0-9]{1,9}")


def ascii_decimal(raw: object) -> object:
    """`raw` as an int when it is 1-9 ASCII decimal digits; anything else is returned for pydantic to refuse."""
    if isinstance(raw, str):
        if not ASCII_DECIMAL.fullmatch(raw):
            raise ValueError("must be a whole number written with the digits 0-9")
        return int(raw)
    return raw


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, exclude: set[str] | None = None
) -> Response:
    """`body` (a model, dumped as it serialises: its OpenAPI schema) as JSON."""
    payload = body.model_dump_json(exclude=exclude) if isinstance(body, BaseModel) else json.dumps(body, default=str)
    return Response(body=payload, status_code=status, headers={"Content-Type": "application/json", **(headers or {})})
