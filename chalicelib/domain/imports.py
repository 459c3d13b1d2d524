"""Bulk import of suppressions: a CSV of numbers to opt out (mode `opt_out`, source `import`) or to reset (mode
`reset`: lift earlier `import`, `manual` and `bounce` suppressions, never a contact's own; DESIGN rule 4).

An import is a job per account and caller's import id, processed through the send queue a chunk at a time:

- `start_import` keeps the file (a request's body, or an upload) in the import files, creates the job (once per
  import id: the same id again answers the existing job and changes nothing) and queues its first task.
- `run_chunk` (the send function, on a task `{"kind": "import"}`) reads the next lines of the file, the numbers'
  states 100 per round trip (`NumberStore.load_many`), applies each row as one history event whose id comes from
  the import id and the line (`import:<import id>:<line>`), stored with its change events (the outbox, as every
  change's are; no email alert: one per imported number would be a flood), records the job's progress with the
  chunk's rejected rows, and queues the next task. A chunk stops before the invocation's time runs out.
- A redelivered task, or a chunk that died half way, applies each row once: every chunk first marks itself started
  on the job; a chunk that finds its own start already marked reads each number with its event ("already
  recorded?") and counts what the recorded event did. Progress is saved conditionally on the job's version, so of
  two workers on one chunk only the last to start records it (and queues the next).

Lines are the file's physical lines (line 1 is the header), so a cell cannot hold a line break. A dry run does all of
this but writes nothing except the job.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from chalicelib.domain import alerts, change_events, policy
from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.errors import (
    ConcurrentUpdate,
    DuplicateEvent,
    InvalidPhone,
    InvalidRequest,
    PayloadTooLarge,
    RequestNotFound,
    StoreUnavailable,
)
from chalicelib.domain.models import (
    ADMIN_LIFTABLE_SOURCES,
    ALL,
    CONTACT_SOURCES,
    Account,
    Action,
    Event,
    EventRecord,
    Frozen,
    NumberState,
    Source,
    validate_scope,
)
from chalicelib.domain.phone import to_e164

if TYPE_CHECKING:
    from chalicelib.domain.ports import Clock, ImportFiles, ImportJobStore, SendQueue, Stores

#: The caller's import id: part of DynamoDB keys and of every event id the import writes.
IMPORT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: An upload's id, as `create_upload` makes it.
UPLOAD_ID_PATTERN = r"^[0-9a-f]{32}$"
#: Rows a request's body may hold; larger files go through an upload.
MAX_BODY_ROWS = 100_000
#: Rows an uploaded file may hold.
MAX_UPLOAD_ROWS = 1_000_000
#: A longer line is an invalid row (and the header may not be longer).
MAX_LINE_BYTES = 4096
MAX_NOTES_LENGTH = 500
#: Lines one chunk reads at most: ~2,000 commits fit a send function invocation (30 s) on DynamoDB, and the time
#: check below stops a slower chunk early.
CHUNK_LINES = 2000
#: Lines read and applied together: their numbers' states in one round trip (`load_many` reads 100 per call).
GROUP_LINES = 100
#: Numbers of a group applied at once (threads, each waiting for its number's transaction): DynamoDB answers each in
#: milliseconds, so a chunk's time is mostly waiting. The boto3 client's pool holds 10 connections.
WORKERS = 8
#: Events whose change events go to the queue in one call (SQS takes ten messages a call), as a task of the pool.
DISPATCH_EVENTS = 10
#: A chunk starts no new group of lines with less than this many seconds left in the invocation.
TIME_MARGIN_SECONDS = 5.0
#: Bytes of the file read at a time.
READ_WINDOW_BYTES = 1 << 20
#: How much of an upload the start of an import reads to check its header.
HEADER_PEEK_BYTES = 64 * 1024
#: An upload URL is valid this long.
UPLOAD_EXPIRES_SECONDS = 15 * 60
#: A job that has not moved for this long is queued again when its import is posted again (a lost task).
STALE_AFTER = timedelta(minutes=5)
#: Attempts at one row whose number keeps changing under it.
MAX_ATTEMPTS = 8
#: `input` of a rejected row keeps at most this many characters of the phone cell.
MAX_INPUT_LENGTH = 64
#: A refusal's reason is cut at this many characters (a number refused in many scopes has one reason per scope).
MAX_REASON_LENGTH = 1000


class ImportMode(StrEnum):
    OPT_OUT = "opt_out"  # suppress each row's number in its scope (source `import`)
    RESET = "reset"  # lift earlier import, manual and bounce suppressions; never the contact's own


ImportStatus = Literal["queued", "running", "done", "failed"]
ImportOrigin = Literal["body", "upload"]
Outcome = Literal["added", "already_suppressed", "lifted", "not_suppressed", "invalid", "refused"]
FINISHED: frozenset[str] = frozenset({"done", "failed"})


class ImportNotFound(RequestNotFound):
    code = "import_not_found"


class ImportFileMissing(Exception):
    """The import's file is not in the import files (never uploaded, or expired)."""


class Columns(Frozen):
    """Where the header put each column the import reads (0-based)."""

    phone: int
    scope: int | None = None
    notes: int | None = None


class ImportCounts(Frozen):
    """What the rows did, one count per row (blank lines are no rows)."""

    added: int = Field(default=0, description="opt_out: a suppression was added")
    already_suppressed: int = Field(default=0, description="opt_out: the scope was suppressed already; unchanged")
    lifted: int = Field(default=0, description="reset: an import, manual or bounce suppression was lifted")
    not_suppressed: int = Field(default=0, description="reset: nothing to lift")
    invalid: int = Field(default=0, description="the row could not be read: see `rejected`")
    refused: int = Field(default=0, description="the row was read but not applied, and why: see `rejected`")

    def plus(self, counts: Counter[str]) -> ImportCounts:
        return self.model_copy(update={name: getattr(self, name) + counts[name] for name in type(self).model_fields})

    @property
    def rows(self) -> int:
        return sum(getattr(self, name) for name in type(self).model_fields)


class RejectedRow(Frozen):
    """A row the import did not apply: `invalid` (unreadable) or `refused` (e.g. the contact's own opt-out)."""

    line: int = Field(description="the line of the file (the header is line 1)")
    kind: Literal["invalid", "refused"]
    reason: str
    input: str = Field(description="the row's phone cell, as given (at most 64 characters)")
    phone: str | None = Field(default=None, description="the number in E.164, when it is one")
    scope: str | None = None


class ImportJob(Frozen):
    """One import: what was asked, where its file is, how far it got and what its rows did."""

    account_id: str
    import_id: str = Field(pattern=IMPORT_ID_PATTERN)
    mode: ImportMode
    dry_run: bool
    origin: ImportOrigin
    #: The file's name in the import files, and its size in bytes.
    file_key: str
    file_bytes: int
    columns: Columns
    #: Who asked (the admin's label, with the import id): each event's actor.
    actor: str
    status: ImportStatus = "queued"
    #: Rows of the file (non-blank lines after the header); None until an upload has been counted.
    rows: int | None = None
    #: The next line to read and where it starts in the file.
    next_line: int = 2
    next_offset: int
    counts: ImportCounts = ImportCounts()
    #: The line of a chunk that started and has not saved its progress yet (a redelivery finds it here).
    started_line: int | None = None
    chunks: int = 0
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    #: The store's: the number of saves, for conditional ones.
    version: int = 0


class ImportTask(Frozen):
    """What the send queue carries for an import: work on its next chunk."""

    kind: Literal["import"] = "import"
    account_id: str
    import_id: str


class UploadForm(Frozen):
    """A presigned POST: the URL, and the form fields to send with the file (as the field `file`, last)."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Upload:
    upload_id: str
    form: UploadForm
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class ImportRow:
    line: int
    #: The phone cell as the file gives it.
    raw: str
    phone: str
    scope: str | None
    notes: str | None


@dataclass(frozen=True)
class Line:
    """One physical line of the file: its number, where it ends (after its newline), and its bytes (None: too long)."""

    number: int
    end: int
    data: bytes | None


def _jobs(stores: Stores) -> ImportJobStore:
    if stores.imports is None:
        raise RuntimeError("these stores have no import job store")
    return stores.imports


def _files(stores: Stores) -> ImportFiles:
    if stores.import_files is None:
        raise RuntimeError("these stores have no import files")
    return stores.import_files


# --- reading the file --------------------------------------------------------------------------------------


def lines(read: Callable[[int, int], bytes], start: int, size: int, first_line: int) -> Iterator[Line]:
    """The lines of a file of `size` bytes from byte `start` (line `first_line`), read `READ_WINDOW_BYTES` at a time
    through `read(start, length)`. A line longer than MAX_LINE_BYTES comes with `data` None."""
    number, cursor = first_line, start
    buffer, buffer_start, position = b"", start, 0
    too_long = False
    while True:
        newline = buffer.find(b"\n", position)
        if newline >= 0:
            yield Line(number, buffer_start + newline + 1, None if too_long else buffer[position:newline])
            number, position, too_long = number + 1, newline + 1, False
            continue
        rest = buffer[position:]
        if len(rest) > MAX_LINE_BYTES:
            too_long, rest = True, b""
        if cursor >= size:
            if rest or too_long:
                yield Line(number, size, None if too_long else rest)
            return
        window = read(cursor, min(READ_WINDOW_BYTES, size - cursor))
        if not window:  # the file is shorter than it said
            size = cursor
            continue
        buffer_start = cursor - len(rest)
        buffer, position = rest + window, 0
        cursor += len(window)


def _is_blank(data: bytes | None) -> bool:
    return data is not None and not data.strip(b" \t\r,")


def read_header(data: bytes) -> tuple[Columns, int]:
    """The columns the header line names, and the byte offset of the line after it.

    InvalidRequest when there is no header line, or it lacks `phone`, or names a column twice.
    """
    first = next(lines(lambda start, length: data[start : start + length], 0, len(data), 1), None)
    if first is None or first.data is None:
        raise InvalidRequest(f"the first line must be a header of at most {MAX_LINE_BYTES} bytes: phone,scope,notes")
    try:
        text = first.data.decode("utf-8-sig").rstrip("\r")
        names = [name.strip().lower() for name in next(csv.reader([text], strict=True), [])]
    except (UnicodeDecodeError, csv.Error):
        raise InvalidRequest("the header line is not a UTF-8 CSV line such as phone,scope,notes") from None
    wanted = ("phone", "scope", "notes")
    for name in wanted:
        if names.count(name) > 1:
            raise InvalidRequest(f"the header names the column {name} twice")
    if "phone" not in names:
        raise InvalidRequest("the header must name a phone column, and may name scope and notes: phone,scope,notes")
    found = {name: names.index(name) for name in wanted if name in names}
    return Columns.model_validate(found), first.end


def count_rows(read: Callable[[int, int], bytes], start: int, size: int) -> int:
    """Rows (lines that are not blank) of the file after its header."""
    return sum(1 for line in lines(read, start, size, 2) if not _is_blank(line.data))


def parse_line(line: Line, columns: Columns, region: str, mode: ImportMode) -> ImportRow | RejectedRow | None:
    """One line as a row, a rejected (invalid) row, or None when it is blank."""
    if line.data is None:
        return _invalid(line.number, "", f"the line is longer than {MAX_LINE_BYTES} bytes")
    if _is_blank(line.data):
        return None
    try:
        cells = next(csv.reader([line.data.decode("utf-8").rstrip("\r")], strict=True), [])
    except UnicodeDecodeError:
        return _invalid(line.number, "", "the line is not UTF-8 text")
    except csv.Error as error:
        return _invalid(line.number, "", f"the line is not a CSV line: {error}")

    def cell(index: int | None) -> str:
        return cells[index].strip() if index is not None and index < len(cells) else ""

    raw_phone, raw_scope, notes = cell(columns.phone), cell(columns.scope), cell(columns.notes)
    if not raw_phone:
        return _invalid(line.number, "", "the phone cell is empty")
    try:
        phone = to_e164(raw_phone, region)
    except InvalidPhone as error:
        return _invalid(line.number, raw_phone, error.message)
    scope: str | None = None
    if raw_scope:
        try:
            scope = validate_scope(raw_scope)
        except ValueError as error:
            return _invalid(line.number, raw_phone, str(error), phone=phone, scope=raw_scope[:MAX_INPUT_LENGTH])
    if len(notes) > MAX_NOTES_LENGTH:
        return _invalid(line.number, raw_phone, f"notes are longer than {MAX_NOTES_LENGTH} characters", phone=phone)
    if mode is ImportMode.OPT_OUT and scope is None:
        scope = ALL
    return ImportRow(line=line.number, raw=raw_phone[:MAX_INPUT_LENGTH], phone=phone, scope=scope, notes=notes or None)


def _invalid(line: int, raw: str, reason: str, phone: str | None = None, scope: str | None = None) -> RejectedRow:
    return RejectedRow(line=line, kind="invalid", reason=reason, input=raw[:MAX_INPUT_LENGTH], phone=phone, scope=scope)


# --- starting an import ------------------------------------------------------------------------------------


def create_upload(stores: Stores, account: Account, max_bytes: int, now: datetime) -> Upload:
    """A presigned POST for one file of up to `max_bytes`, valid UPLOAD_EXPIRES_SECONDS; then `start_import` with
    its upload id."""
    upload_id = uuid.uuid4().hex
    form = _files(stores).upload_form(upload_key(account.account_id, upload_id), max_bytes, UPLOAD_EXPIRES_SECONDS)
    expires_at = now + timedelta(seconds=UPLOAD_EXPIRES_SECONDS)
    return Upload(upload_id=upload_id, form=form, expires_at=expires_at, max_bytes=max_bytes)


def upload_key(account_id: str, upload_id: str) -> str:
    return f"uploads/{account_id}/{upload_id}.csv"


def body_key(account_id: str, import_id: str, data: bytes) -> str:
    # The content's digest in the name: two first requests with one import id never overwrite each other's file.
    return f"imports/{account_id}/{import_id}/{hashlib.sha256(data).hexdigest()[:32]}.csv"


def start_import(
    stores: Stores,
    queue: SendQueue,
    account: Account,
    *,
    import_id: str,
    mode: ImportMode,
    dry_run: bool,
    actor: str,
    now: datetime,
    data: bytes | None = None,
    upload_id: str | None = None,
    max_upload_bytes: int | None = None,
) -> tuple[ImportJob, bool]:
    """Start an import of `data` (a request's body) or of the upload `upload_id`; returns the job and whether it is
    new. An import id the account used before answers that job, changes nothing, and only queues it again if it
    never started or has not moved for STALE_AFTER (its task was lost).

    InvalidRequest for a bad import id, a missing upload or a bad header; PayloadTooLarge beyond MAX_BODY_ROWS rows.
    """
    jobs, files = _jobs(stores), _files(stores)
    origin: ImportOrigin
    if import_id == "uploads":  # `.../import/uploads` is the upload route's path
        raise InvalidRequest("import_id may not be 'uploads'", field="import_id")
    existing = jobs.get_job(account.account_id, import_id)
    if existing is not None:
        return _kick(queue, existing, now), False
    if data is not None:
        columns, offset = read_header(data)
        rows: int | None = count_rows(lambda start, length: data[start : start + length], offset, len(data))
        if not rows:
            raise InvalidRequest("the file has a header but no rows")
        if rows > MAX_BODY_ROWS:
            raise PayloadTooLarge(
                f"the file has {rows} rows; a request takes at most {MAX_BODY_ROWS:,}: upload it instead "
                "(POST .../suppressions/import/uploads)",
                limit=MAX_BODY_ROWS,
            )
        key, size, origin = body_key(account.account_id, import_id, data), len(data), "body"
        files.put(key, data)
    elif upload_id is not None:
        key, origin = upload_key(account.account_id, upload_id), "upload"
        found = files.size(key)
        if found is None:
            raise InvalidRequest(
                f"no upload {upload_id}: POST the file to the upload URL first (it is valid for 15 minutes)",
                field="upload_id",
            )
        size, rows = found, None
        if max_upload_bytes is not None and size > max_upload_bytes:
            raise PayloadTooLarge(f"the upload is larger than {max_upload_bytes} bytes", limit=max_upload_bytes)
        columns, offset = read_header(files.read(key, 0, min(size, HEADER_PEEK_BYTES)))
    else:
        raise InvalidRequest("send the CSV as the body, or an upload_id")
    job = ImportJob(
        account_id=account.account_id,
        import_id=import_id,
        mode=mode,
        dry_run=dry_run,
        origin=origin,
        file_key=key,
        file_bytes=size,
        columns=columns,
        actor=f"{actor} via import:{import_id}",
        rows=rows,
        next_offset=offset,
        created_at=now,
        updated_at=now,
    )
    if not jobs.create_job(job):  # another request with this id was first
        raced = jobs.get_job(account.account_id, import_id)
        if raced is None:
            raise StoreUnavailable("the import job was neither created nor found")
        return raced, False
    queue.enqueue_import(ImportTask(account_id=account.account_id, import_id=import_id))
    return job.model_copy(update={"version": 1}), True


def _kick(queue: SendQueue, job: ImportJob, now: datetime) -> ImportJob:
    if job.status == "queued" or (job.status == "running" and now - job.updated_at >= STALE_AFTER):
        queue.enqueue_import(ImportTask(account_id=job.account_id, import_id=job.import_id))
    return job


def get_import(
    stores: Stores, account: Account, import_id: str, after_line: int, limit: int
) -> tuple[ImportJob, list[RejectedRow], int | None]:
    """The job, a page of its rejected rows after `after_line`, and the line to continue after (None: the last)."""
    jobs = _jobs(stores)
    job = jobs.get_job(account.account_id, import_id)
    if job is None:
        raise ImportNotFound(f"no import {import_id}", import_id=import_id)
    rejected, next_after = jobs.rejected_rows(account.account_id, import_id, after_line, limit)
    return job, rejected, next_after


# --- processing a chunk ------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    counts: Counter[str]
    rejected: list[RejectedRow]
    next_line: int
    next_offset: int


def run_chunk(
    stores: Stores,
    queue: SendQueue,
    account: Account,
    task: ImportTask,
    clock: Clock,
    seconds_left: Callable[[], float] | None = None,
) -> ImportJob | None:
    """Apply the import's next chunk of rows, record its progress, and queue the next chunk while rows remain.

    Returns the job as saved; None when another worker is on this chunk (this one stops, writing nothing more).
    A job that is finished, or unknown, is returned as it is.
    """
    jobs, files = _jobs(stores), _files(stores)
    job = jobs.get_job(task.account_id, task.import_id)
    if job is None or job.status in FINISHED:
        return job
    # A dry run writes no event, so running its chunk again needs no care.
    rerun = job.started_line == job.next_line and not job.dry_run
    started = job.model_copy(update={"status": "running", "started_line": job.next_line, "updated_at": clock.now()})
    if not jobs.save_job(started, job.version):
        return None
    started = started.model_copy(update={"version": job.version + 1})
    try:
        if started.rows is None:
            rows = count_rows(_reader(files, job.file_key), started.next_offset, started.file_bytes)
            if rows > MAX_UPLOAD_ROWS:
                message = f"the file has {rows:,} rows; an import takes at most {MAX_UPLOAD_ROWS:,}: split it"
                return _fail(jobs, started, message, clock.now())
            started = started.model_copy(update={"rows": rows})
        chunk = _process(stores, queue, files, account, started, clock, seconds_left, rerun=rerun)
    except ImportFileMissing:
        return _fail(jobs, started, "the import's file is gone (files are kept for 7 days)", clock.now())
    now = clock.now()
    done = chunk.next_offset >= started.file_bytes
    saved = started.model_copy(
        update={
            "status": "done" if done else "running",
            "next_line": chunk.next_line,
            "next_offset": chunk.next_offset,
            "counts": started.counts.plus(chunk.counts),
            "started_line": None,
            "chunks": started.chunks + 1,
            "updated_at": now,
            "finished_at": now if done else None,
        }
    )
    if not jobs.save_job(saved, started.version, chunk.rejected):
        return None
    if not done:
        queue.enqueue_import(task)
    return saved.model_copy(update={"version": started.version + 1})


def _fail(jobs: ImportJobStore, job: ImportJob, error: str, now: datetime) -> ImportJob | None:
    failed = job.model_copy(
        update={"status": "failed", "error": error, "started_line": None, "updated_at": now, "finished_at": now}
    )
    return failed.model_copy(update={"version": job.version + 1}) if jobs.save_job(failed, job.version) else None


def _reader(files: ImportFiles, key: str) -> Callable[[int, int], bytes]:
    return lambda start, length: files.read(key, start, length)


def _process(
    stores: Stores,
    queue: SendQueue,
    files: ImportFiles,
    account: Account,
    job: ImportJob,
    clock: Clock,
    seconds_left: Callable[[], float] | None,
    *,
    rerun: bool,
) -> _Chunk:
    chunk = _Chunk(Counter(), [], job.next_line, job.next_offset)
    source = lines(_reader(files, job.file_key), job.next_offset, job.file_bytes, job.next_line)
    #: States read (or, in a dry run, as the rows before would have left them), by number.
    states: dict[str, NumberState] = {}
    read = 0
    dispatching: list[Future[object]] = []
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="import") as pool:
        while read < CHUNK_LINES:
            if seconds_left is not None and seconds_left() < TIME_MARGIN_SECONDS:
                break
            group = list(itertools.islice(source, GROUP_LINES))
            if not group:
                break
            rows: list[ImportRow] = []
            for line in group:
                parsed = parse_line(line, job.columns, account.default_region, job.mode)
                if isinstance(parsed, RejectedRow):
                    chunk.rejected.append(parsed)
                    chunk.counts["invalid"] += 1
                elif parsed is not None:
                    rows.append(parsed)
            if not rerun:
                unread = [row.phone for row in rows if row.phone not in states]
                if unread:
                    states.update(stores.numbers.load_many(job.account_id, unread))
            # Numbers apply in parallel (each row waits for its transaction); one number's rows in file order.
            by_number: dict[str, list[ImportRow]] = {}
            for row in rows:
                by_number.setdefault(row.phone, []).append(row)
            applied = [
                pool.submit(_apply_rows, stores, job, number_rows, states.get(phone), clock, rerun=rerun)
                for phone, number_rows in by_number.items()
            ]
            results: dict[int, tuple[Outcome, str | None]] = {}
            change_jobs: list[list[ChangeEventJob]] = []
            for (phone, _), future in zip(by_number.items(), applied, strict=True):
                states[phone], outcomes, stored = future.result()
                results.update(outcomes)
                change_jobs += [[job] for job in stored]
            # The group's change events go to the queue ten at a time, beside the next group's rows; each event then
            # leaves the outbox. What the queue refused stays in the outbox, and the outbox sweep queues it.
            dispatching += [
                pool.submit(alerts.dispatch_events, stores.outbox, queue, change_jobs[start : start + DISPATCH_EVENTS])
                for start in range(0, len(change_jobs), DISPATCH_EVENTS)
            ]
            for row in rows:
                outcome, reason = results[row.line]
                chunk.counts[outcome] += 1
                if reason is not None:
                    if len(reason) > MAX_REASON_LENGTH:
                        reason = reason[: MAX_REASON_LENGTH - 1] + "…"
                    chunk.rejected.append(
                        RejectedRow(
                            line=row.line,
                            kind="refused",
                            reason=reason,
                            input=row.raw,
                            phone=row.phone,
                            scope=row.scope,
                        )
                    )
            read += len(group)
            chunk.next_line, chunk.next_offset = group[-1].number + 1, group[-1].end
        for dispatched in dispatching:
            dispatched.result()  # a store that failed fails the chunk (it runs again)
    return chunk


def _apply_rows(
    stores: Stores,
    job: ImportJob,
    rows: list[ImportRow],
    state: NumberState | None,
    clock: Clock,
    *,
    rerun: bool,
) -> tuple[NumberState, dict[int, tuple[Outcome, str | None]], list[ChangeEventJob]]:
    """One number's rows, in file order: the state after them, each row's outcome and reason by line, and the change
    events stored with them (in the outbox, to queue).

    A chunk that may have run before (`rerun`) reads the number with each row's event ("applied already?").
    """
    outcomes: dict[int, tuple[Outcome, str | None]] = {}
    stored: list[ChangeEventJob] = []
    for row in rows:
        outcome, reason, after, change_job = _apply_row(stores, job, row, None if rerun else state, clock)
        outcomes[row.line], state = (outcome, reason), after
        if change_job is not None:
            stored.append(change_job)
    assert state is not None
    return state, outcomes, stored


def event_id(import_id: str, line: int) -> str:
    """The event a row of an import writes: one per import and line, so a row is applied once."""
    return f"import:{import_id}:{line}"


def _apply_row(
    stores: Stores, job: ImportJob, row: ImportRow, state: NumberState | None, clock: Clock
) -> tuple[Outcome, str | None, NumberState, ChangeEventJob | None]:
    """Apply one row (or, in a dry run, work out what it would do); its outcome, why it was refused, the number's
    state after it, and the change events stored with it. `state` None: read it with the row's event (a chunk that
    may have run before).

    A change is stored with its change events (the outbox, as every change's are), queued by the caller once stored.
    No email alert: one per imported number would be a flood, and the admin who imported knows."""
    row_event = event_id(job.import_id, row.line)
    recorded: EventRecord | None = None
    if state is None:
        state, recorded = _load(stores, job, row, row_event)
    for _ in range(MAX_ATTEMPTS):
        outcome, reason, write = _decide(job, row, state, clock.now(), recorded)
        if write is None:
            return outcome, reason, state, None
        new_state, record = write
        if job.dry_run:
            return outcome, reason, new_state.model_copy(update={"version": state.version + 1}), None
        change_job = change_events.job_for(record, new_state)
        try:
            stores.numbers.commit(new_state, record, change_job=change_job)
        except (ConcurrentUpdate, DuplicateEvent):  # the number changed since it was read: read it again
            state, recorded = _load(stores, job, row, row_event)
            continue
        return outcome, reason, new_state.model_copy(update={"version": state.version + 1}), change_job
    raise StoreUnavailable("a number of the import is changing too fast to apply its row; retry", phone=row.phone)


def _load(stores: Stores, job: ImportJob, row: ImportRow, row_event: str) -> tuple[NumberState, EventRecord | None]:
    state, seen = stores.numbers.load(job.account_id, row.phone, row_event)
    return state, stores.history.get_event(job.account_id, row.phone, row_event) if seen else None


def _decide(
    job: ImportJob, row: ImportRow, state: NumberState, now: datetime, recorded: EventRecord | None
) -> tuple[Outcome, str | None, tuple[NumberState, EventRecord] | None]:
    """What the row does to `state`: its outcome, the reason it is refused, and the write (None: nothing to write).

    `recorded`: the row's event, when it is already in the number's history (then nothing is written again).
    """
    event = Event(
        event_id=event_id(job.import_id, row.line),
        account_id=job.account_id,
        phone=row.phone,
        action=Action.OPT_OUT if job.mode is ImportMode.OPT_OUT else Action.LIFT,
        scopes=(),
        source=Source.IMPORT if job.mode is ImportMode.OPT_OUT else None,
        # When the admin asked: a change of the number stored after that (a START, a STOP) stands (DESIGN rule 5).
        occurred_at=job.created_at,
        received_at=now,
        actor=job.actor,
        notes=f"import {job.import_id}, line {row.line}" + (f": {row.notes}" if row.notes else ""),
    )
    if job.mode is ImportMode.OPT_OUT:
        return _decide_opt_out(state, event, row.scope or ALL, recorded)
    return _decide_reset(state, event, row.scope, recorded)


def _decide_opt_out(
    state: NumberState, event: Event, scope: str, recorded: EventRecord | None
) -> tuple[Outcome, str | None, tuple[NumberState, EventRecord] | None]:
    if recorded is not None:
        return ("added" if recorded.changes else "already_suppressed"), None, None
    current = state.suppressions.get(scope)
    if current is not None and current.event_id == event.event_id:  # this very row, applied before
        return "added", None, None
    new_state, record = policy.apply(state, event.model_copy(update={"scopes": (scope,)}))
    if record.outcome == "superseded":
        return "refused", _later_change(state, scope, event), None
    if record.changes:
        return "added", None, (new_state, record)
    return "already_suppressed", None, None


def _decide_reset(
    state: NumberState, event: Event, scope: str | None, recorded: EventRecord | None
) -> tuple[Outcome, str | None, tuple[NumberState, EventRecord] | None]:
    targets = [scope] if scope is not None else sorted(state.suppressions)
    present = [(target, state.suppressions[target]) for target in targets if target in state.suppressions]
    own = [(target, s.source) for target, s in present if s.source in CONTACT_SOURCES]
    liftable = [target for target, s in present if s.source in ADMIN_LIFTABLE_SOURCES]
    write: tuple[NumberState, EventRecord] | None = None
    reasons: list[str] = []
    if recorded is not None:
        lifted = [change.scope for change in recorded.changes if change.change == "lifted"]
    elif liftable:
        new_state, record = policy.apply(state, event.model_copy(update={"scopes": tuple(liftable)}))
        lifted = [change.scope for change in record.changes if change.change == "lifted"]
        write = (new_state, record) if record.changes else None
        reasons += [_later_change(state, target, event) for target in liftable if target not in lifted]
    else:
        lifted = []
    reasons = [
        f"the {source.value} opt-out in scope {target} is the contact's own: only the contact lifts it, by texting "
        "an opt-in keyword such as START from that number"
        for target, source in own
    ] + reasons
    if reasons:
        also = f" (lifted: {', '.join(lifted)})" if lifted else ""
        return "refused", "; ".join(reasons) + also, write
    return ("lifted" if lifted else "not_suppressed"), None, write


def _later_change(state: NumberState, scope: str, event: Event) -> str:
    at = state.clock.get(scope)
    when = at.isoformat() if at else "a later time"
    return (
        f"scope {scope} changed at {when}, after the import was asked for ({event.occurred_at.isoformat()}): "
        "that later change stands"
    )
