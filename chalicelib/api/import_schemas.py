"""What the import views (`imports.py`) read and answer: the models the OpenAPI document is generated from."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field

from chalicelib.api.schemas import PATH_DESCRIPTIONS, PATH_PATTERNS, AsciiInt, Cursor, Query, QueryBool
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.imports import (
    IMPORT_ID_PATTERN,
    MAX_BODY_ROWS,
    UPLOAD_ID_PATTERN,
    ImportCounts,
    ImportJob,
    ImportMode,
    ImportOrigin,
    ImportStatus,
    RejectedRow,
    Upload,
)
from chalicelib.domain.models import Frozen

IMPORT_ID_DESCRIPTION = "the caller's id of the import: 1-64 letters, digits, '.', '_' or '-' (not 'uploads')"
# The document describes `{import_id}` like the other path parameters.
PATH_PATTERNS.setdefault("import_id", IMPORT_ID_PATTERN)
PATH_DESCRIPTIONS.setdefault("import_id", IMPORT_ID_DESCRIPTION)
_IMPORT_ID = re.compile(IMPORT_ID_PATTERN)


def import_id_value(value: str) -> str:
    """A decoded `{import_id}`, when it fits its pattern; InvalidRequest (400) otherwise."""
    if not _IMPORT_ID.fullmatch(value):
        raise InvalidRequest(f"import_id is not valid: {IMPORT_ID_DESCRIPTION}", field="import_id")
    return value


class ImportQuery(Query):
    """The options of an import whose body is the CSV (with a JSON body they go in the body)."""

    import_id: str | None = Field(
        default=None, pattern=IMPORT_ID_PATTERN, description=f"required with a CSV body: {IMPORT_ID_DESCRIPTION}"
    )
    mode: ImportMode | None = Field(
        default=None,
        description="`opt_out` (default): suppress each number, source `import`; `reset`: lift earlier import, manual "
        "and bounce suppressions of each number, never the contact's own",
    )
    dry_run: QueryBool | None = Field(default=None, description="report what the import would do; change nothing")


class ImportFromUploadIn(Frozen):
    """An import of a file uploaded through `POST .../suppressions/import/uploads`."""

    import_id: str = Field(pattern=IMPORT_ID_PATTERN, description=IMPORT_ID_DESCRIPTION)
    upload_id: str = Field(pattern=UPLOAD_ID_PATTERN, description="the `upload_id` the upload URL was given with")
    mode: ImportMode = Field(default=ImportMode.OPT_OUT, description="`opt_out` or `reset`")
    dry_run: bool = Field(default=False, description="report what the import would do; change nothing")


class ImportResultQuery(Query):
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the page before")
    limit: AsciiInt = Field(default=100, ge=1, le=1000, description="rejected rows per page")


class ImportView(Frozen):
    """An import job: what was asked, how far it got, and what its rows did."""

    import_id: str
    mode: ImportMode
    dry_run: bool = Field(description="true: nothing was or will be changed; the counts say what would be")
    status: ImportStatus = Field(description="`queued`, `running`, `done` or `failed` (see `error`)")
    origin: ImportOrigin = Field(description="`body` (the request's) or `upload`")
    rows: int | None = Field(description="rows of the file (blank lines are none); null until an upload is counted")
    processed: int = Field(description="rows done so far: the sum of `counts`")
    counts: ImportCounts
    error: str | None = Field(description="why a `failed` import stopped (the rows before stay applied)")
    requested_by: str = Field(description="who asked; each event's actor, with the import id")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: ImportJob) -> ImportView:
        return cls.model_validate(_job_fields(job))


class ImportResult(ImportView):
    """An import job with a page of the rows it did not apply, by line."""

    rejected: list[RejectedRow] = Field(description="invalid and refused rows, by line, a page at a time")
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")

    @classmethod
    def with_rows(cls, job: ImportJob, rejected: list[RejectedRow], next_cursor: str | None) -> ImportResult:
        return cls.model_validate({**_job_fields(job), "rejected": rejected, "next_cursor": next_cursor})


def _job_fields(job: ImportJob) -> dict[str, object]:
    return {
        "import_id": job.import_id,
        "mode": job.mode,
        "dry_run": job.dry_run,
        "status": job.status,
        "origin": job.origin,
        "rows": job.rows,
        "processed": job.counts.rows,
        "counts": job.counts,
        "error": job.error,
        "requested_by": job.actor,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
    }


class UploadView(Frozen):
    """Where to upload a file too large for a request's body (more than 100,000 rows): an S3 presigned POST."""

    upload_id: str = Field(description="give it to `POST .../suppressions/import` as `upload_id`, with an import_id")
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str] = Field(description="form fields to send as they are, then the file as the field `file`")
    max_bytes: int = Field(description="the largest file the URL takes")
    expires_at: datetime = Field(description="the URL takes no file after this")

    @classmethod
    def of(cls, upload: Upload) -> UploadView:
        return cls(
            upload_id=upload.upload_id,
            url=upload.form.url,
            fields=upload.form.fields,
            max_bytes=upload.max_bytes,
            expires_at=upload.expires_at,
        )


#: The CSV an import takes in its body, as the document describes it.
CSV_BODY_DESCRIPTION = (
    f"UTF-8 CSV, at most {MAX_BODY_ROWS:,} rows: a header line naming `phone` (and optionally `scope` and `notes`; "
    "other columns are ignored), then one row per line. Phone numbers in E.164 or national in the account's region; "
    "scope `all` (the default for opt_out; for reset, empty means every scope), `sender:<E.164>` or `group:<id>`."
)
