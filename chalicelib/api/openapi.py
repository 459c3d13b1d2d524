"""The OpenAPI 3.1 document, generated from what the views declare: each view is registered through `operation`,
which routes it and records its path, method, query model, body model and answers; `document` turns those and
the pydantic models' JSON Schemas (draft 2020-12, which OpenAPI 3.1 uses) into the document `GET /openapi.json`
serves. tests/unit/test_openapi.py checks it against the routes Chalice actually has.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from chalice import Blueprint
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib.api.http import json_errors
from chalicelib.api.schemas import PATH_DESCRIPTIONS, PATH_PATTERNS, ErrorBody

TITLE = "SMS opt-out service"
#: The contract's version: a change that breaks a caller is a new version.
VERSION = "1"
REF = "#/components/schemas/{model}"
#: Routes that answer every path no operation has (404 in the contract's shape): not operations of the API.
CATCH_ALL_PATHS = ("/", "/{proxy+}")

#: What each error status means here; its body is always ErrorBody.
ERRORS: dict[int, str] = {
    400: "bad input (`invalid_request`, `invalid_phone`, `invalid_cursor`): nothing changed",
    401: "no valid credentials (`unauthenticated`; `credentials_required` for carriers that use HTTP Basic)",
    403: "the credentials may not do this (`forbidden`), or the carrier did not sign it (`invalid_signature`)",
    404: "no such account, number, message, request or carrier",
    405: "the path does not take this method (`method_not_allowed`)",
    409: "the lift is refused: the suppression is the contact's own (`lift_refused`); or the id is taken "
    "(`group_exists`)",
    413: "the body is too large (`payload_too_large`)",
    415: "the body is not of a type this operation takes (`unsupported_media_type`)",
    503: "the store could not record or read it now (`store_unavailable`): retry after `Retry-After` seconds",
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "the scheme to authenticate with"}},
    503: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait before retrying"}},
}
#: Errors every authenticated admin operation may answer.
ADMIN_ERRORS = (400, 401, 403, 404, 503)


@dataclass(frozen=True)
class Answer:
    """One success answer: a model as JSON, or other content (media type -> JSON Schema), or nothing."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    content: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    tag: str
    answers: tuple[Answer, ...]
    errors: tuple[int, ...]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    #: A body that is not one model's JSON (the carriers' webhooks): media type -> JSON Schema.
    body_content: Mapping[str, dict[str, Any]] | None = None
    secured: bool = True


#: Every operation the views declared, in the order they were declared.
OPERATIONS: list[Operation] = []
#: Models the document lists though no operation names them directly (referenced from descriptions and schemas).
EXTRA_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = []


def operation(
    blueprint: Blueprint,
    path: str,
    *,
    methods: Sequence[Literal["GET", "POST", "PUT", "DELETE"]] = ("GET",),
    tag: str,
    answers: Sequence[Answer],
    errors: Sequence[int] = ADMIN_ERRORS,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    body_content: Mapping[str, dict[str, Any]] | None = None,
    secured: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route the view on `blueprint` (its errors in the contract's shape, `http.json_errors`) and record it in
    OPERATIONS for the document. The view's docstring is the summary (first line) and description (the rest)."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        summary, _, description = (view.__doc__ or view.__name__).strip().partition("\n")
        for method in methods:
            suffix = f"_{method.lower()}" if len(methods) > 1 else ""
            OPERATIONS.append(
                Operation(
                    method=method,
                    path=path,
                    operation_id=view.__name__ + suffix,
                    summary=summary.strip(),
                    description=" ".join(description.split()),
                    tag=tag,
                    answers=tuple(answers),
                    errors=tuple(sorted(set(errors))),
                    query=query,
                    body=body,
                    body_required=body_required,
                    body_content=body_content,
                    secured=secured,
                )
            )
        blueprint.route(path, methods=list(methods), content_types=["*/*"])(json_errors(view))
        return view

    return register


def document(operations: Sequence[Operation], *, carriers: Sequence[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`; `carriers` are the names `{carrier}` takes."""
    inputs = {op.body for op in operations if op.body is not None}
    outputs = {answer.model for op in operations for answer in op.answers if answer.model is not None} | {ErrorBody}
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "validation") for model in sorted(inputs, key=lambda m: m.__name__)),
        *((model, "serialization") for model in sorted(outputs, key=lambda m: m.__name__)),
        *EXTRA_MODELS,
    ]
    refs, top = models_json_schema(keys, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, carriers)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Who may not be texted, and the one gate every send passes through. Admin calls take "
                "`Authorization: Bearer <token>` (the operator's, or one account's). Carrier webhooks are "
                "authenticated by each carrier's own scheme. Every error is "
                '`{"error": {"code", "message", "details"?}}`.'
            ),
        },
        "tags": [
            {"name": "accounts", "description": "accounts and their settings (the operator creates them)"},
            {"name": "suppressions", "description": "numbers, suppressions and their history"},
            {"name": "inbound", "description": "the inbound log and the review queue"},
            {"name": "sends", "description": "send requests and their outcomes"},
            {"name": "reports", "description": "opt-outs and opt-ins counted per period, source, keyword and campaign"},
            {"name": "webhooks", "description": "what carriers call"},
            {"name": "groups", "description": "named groups, events, organisations, employees and topics"},
            {"name": "console", "description": "the admin console: static pages for a browser"},
            {"name": "meta", "description": "this document"},
        ],
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the operator's or an account's token"}
            },
        },
    }


def _operation(
    op: Operation, refs: Mapping[tuple[Any, JsonSchemaMode], Any], carriers: Sequence[str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"bearer": []}] if op.secured else [],
        "parameters": [*_path_parameters(op.path, carriers), *_query_parameters(op.query)],
    }
    if op.description:
        entry["description"] = op.description
    if op.body is not None:
        entry["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    elif op.body_content is not None and op.method != "GET":
        entry["requestBody"] = {"required": False, "content": dict(op.body_content)}
    responses: dict[str, Any] = {}
    for answer in op.answers:
        content = dict(answer.content)
        if answer.model is not None:
            content = {"application/json": {"schema": refs[(answer.model, "serialization")]}, **content}
        responses[str(answer.status)] = {"description": answer.description} | ({"content": content} if content else {})
    error_schema = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    for status in op.errors:
        responses[str(status)] = {"description": ERRORS[status], "content": error_schema}
        if status in _ERROR_HEADERS:
            responses[str(status)]["headers"] = _ERROR_HEADERS[status]
    entry["responses"] = responses
    return entry


def _path_parameters(path: str, carriers: Sequence[str]) -> list[dict[str, Any]]:
    parameters = []
    for name in re.findall(r"{(\w+)}", path):
        schema: dict[str, Any] = {"type": "string", "pattern": PATH_PATTERNS[name]}
        if name == "carrier":
            schema = {"type": "string", "enum": sorted(carriers)}
        parameters.append(
            {"name": name, "in": "path", "required": True, "description": PATH_DESCRIPTIONS[name], "schema": schema}
        )
    return parameters


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(mode="validation", ref_template=REF)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        if prop.get("type") == "array":
            parameter |= {"style": "form", "explode": True}
        parameters.append(parameter)
    return parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `X | None` documents as X."""
    options = schema.get("anyOf")
    if options and any(option == {"type": "null"} for option in options):
        rest = [option for option in options if option != {"type": "null"}]
        merged = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
        if len(rest) == 1:
            return {**rest[0], **merged}
        return {**merged, "anyOf": rest}
    return dict(schema)
