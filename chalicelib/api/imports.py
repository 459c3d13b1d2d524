"""Bulk import of suppressions: the views parse, call one use case of `chalicelib/domain/imports.py`, and answer
with a model of `import_schemas.py`.

The import's body has its own size limit (`OPTOUT_IMPORT_MAX_BODY_BYTES`, 5 MiB), not the API's 64 KiB.
"""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api import cursors
from chalicelib.api.access import authorised
from chalicelib.api.http import InvalidCursor, json_response, parse_json, parse_query, path_param, read_body
from chalicelib.api.import_schemas import (
    CSV_BODY_DESCRIPTION,
    ImportFromUploadIn,
    ImportQuery,
    ImportResult,
    ImportResultQuery,
    ImportView,
    UploadView,
    import_id_value,
)
from chalicelib.api.openapi import ADMIN_ERRORS, EXTRA_MODELS, REF, Answer, operation
from chalicelib.domain import imports
from chalicelib.domain.accounts import Principal
from chalicelib.domain.errors import InvalidRequest, UnsupportedMediaType
from chalicelib.domain.models import Account
from chalicelib.wiring import Container

import_blueprint = Blueprint(__name__)

EXTRA_MODELS.append((ImportFromUploadIn, "validation"))
IMPORT_PATH = "/v1/accounts/{account_id}/suppressions/import"
CSV_TYPES = ("text/csv", "application/csv")


def _authorised(account_id: str) -> tuple[Container, Principal, Account]:
    """The operator, or the account's own admin token (another account's is a 403)."""
    return authorised(import_blueprint.current_request, account_id)


@operation(
    import_blueprint,
    IMPORT_PATH,
    methods=("POST",),
    tag="suppressions",
    query=ImportQuery,
    body_content={
        "text/csv": {"schema": {"type": "string", "description": CSV_BODY_DESCRIPTION}},
        "application/json": {"schema": {"$ref": REF.format(model=ImportFromUploadIn.__name__)}},
    },
    answers=[
        Answer(202, "the import, queued as a job: follow it at `.../suppressions/import/{import_id}`", ImportView),
        Answer(200, "an import with this import_id exists: that job, unchanged", ImportView),
    ],
    errors=(*ADMIN_ERRORS, 413, 415),
)
def post_import(account_id: str) -> Response:
    """Import a list of numbers to opt out or to reset
    The CSV as the body (`Content-Type: text/csv`, options in the query, `import_id` required; at most 100,000 rows
    and 5 MiB), or `{"upload_id", "import_id", "mode", "dry_run"}` as JSON for a file uploaded through
    `.../import/uploads`. Processed as a job; the same `import_id` again answers that job and changes nothing.
    `reset` never lifts a contact's own opt-out (keyword, natural_language, carrier): each such row is refused, with
    why. Every change is a history event with the import id (its event id is `import:<import_id>:<line>`)."""
    deps, principal, account = _authorised(account_id)
    request = import_blueprint.current_request
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    query = parse_query(request, ImportQuery)
    if content_type == "application/json":
        if query.model_fields_set:
            raise InvalidRequest("with a JSON body, give import_id, mode and dry_run in the body, not the query")
        body = parse_json(request, ImportFromUploadIn, deps.settings.max_body_bytes)
        job, created = imports.start_import(
            deps.stores,
            deps.queue,
            account,
            import_id=body.import_id,
            mode=body.mode,
            dry_run=body.dry_run,
            actor=principal.label,
            now=deps.clock.now(),
            upload_id=body.upload_id,
            max_upload_bytes=deps.settings.import_max_upload_bytes,
        )
    elif content_type in CSV_TYPES:
        if query.import_id is None:
            raise InvalidRequest("give the import an id: ?import_id=... (the same id again changes nothing)")
        job, created = imports.start_import(
            deps.stores,
            deps.queue,
            account,
            import_id=query.import_id,
            mode=query.mode or imports.ImportMode.OPT_OUT,
            dry_run=bool(query.dry_run),
            actor=principal.label,
            now=deps.clock.now(),
            data=read_body(request, deps.settings.import_max_body_bytes),
        )
    else:
        raise UnsupportedMediaType(
            "send Content-Type: text/csv (the file) or application/json (an upload_id)", received=content_type or None
        )
    return json_response(ImportView.of(job), status=202 if created else 200)


@operation(
    import_blueprint,
    f"{IMPORT_PATH}/uploads",
    methods=("POST",),
    tag="suppressions",
    answers=[Answer(201, "where to upload the file: a presigned POST, valid 15 minutes", UploadView)],
)
def post_import_upload(account_id: str) -> Response:
    """Get an upload URL for a large import file
    For files over 100,000 rows or 5 MiB: POST the file to `url` with `fields` (the file last, as `file`), then
    `POST .../suppressions/import` with `{"upload_id", "import_id"}`."""
    deps, _, account = _authorised(account_id)
    upload = imports.create_upload(deps.stores, account, deps.settings.import_max_upload_bytes, deps.clock.now())
    return json_response(UploadView.of(upload), status=201)


@operation(
    import_blueprint,
    f"{IMPORT_PATH}/{{import_id}}",
    tag="suppressions",
    query=ImportResultQuery,
    answers=[Answer(200, "the import's progress and counts, with a page of its rejected rows", ImportResult)],
)
def get_import(account_id: str, import_id: str) -> Response:
    """An import's progress and result
    Rows added, already suppressed, lifted, not suppressed, invalid and refused; the invalid and refused rows by line
    (with why), a page at a time."""
    deps, _, account = _authorised(account_id)
    wanted = import_id_value(path_param(import_id))
    query = parse_query(import_blueprint.current_request, ImportResultQuery)
    listing = f"import:{account.account_id}:{wanted}"
    key = cursors.cursor_key(deps)
    after = cursors.unseal(key, listing, query.cursor)
    if after is not None and not (after.isascii() and after.isdigit()):
        raise InvalidCursor("the cursor is not one this service returned for this listing", field="cursor")
    job, rejected, next_after = imports.get_import(deps.stores, account, wanted, int(after or 0), query.limit)
    next_cursor = cursors.seal(key, listing, None if next_after is None else str(next_after))
    return json_response(ImportResult.with_rows(job, rejected, next_cursor))
