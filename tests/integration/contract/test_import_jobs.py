"""ImportJobStore: the same cases on the fake and on DynamoDB."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.imports import Columns, ImportCounts, ImportJob, ImportMode, RejectedRow
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0


def job(import_id: str = "crm-1", account_id: str = ACCOUNT, **changes: object) -> ImportJob:
    fields: dict[str, object] = {
        "account_id": account_id,
        "import_id": import_id,
        "mode": ImportMode.OPT_OUT,
        "dry_run": False,
        "origin": "body",
        "file_key": f"imports/{account_id}/{import_id}/abc.csv",
        "file_bytes": 1000,
        "columns": Columns(phone=0),
        "actor": f"operator via import:{import_id}",
        "rows": 40,
        "next_offset": 6,
        "created_at": T0,
        "updated_at": T0,
    }
    return ImportJob.model_validate(fields | changes)


def rejected(*lines: int, kind: str = "invalid") -> list[RejectedRow]:
    return [RejectedRow(line=line, kind=kind, reason=f"line {line} is bad", input=f"x{line}") for line in lines]


def test_a_new_job_is_created_at_version_1_and_read_back(stores: Stores) -> None:
    assert stores.imports.create_job(job())
    assert stores.imports.get_job(ACCOUNT, "crm-1") == job(version=1)
    assert stores.imports.get_job(ACCOUNT, "crm-2") is None


def test_a_job_is_created_once_per_account_and_import_id(stores: Stores) -> None:
    assert stores.imports.create_job(job(rows=40))
    assert not stores.imports.create_job(job(rows=99))
    assert stores.imports.get_job(ACCOUNT, "crm-1").rows == 40
    # Another account may use the same import id
    assert stores.imports.create_job(job(account_id="beta"))
    assert stores.imports.get_job("beta", "crm-1").account_id == "beta"


def test_a_save_at_the_version_read_moves_the_job_on_with_its_rejected_rows(stores: Stores) -> None:
    stores.imports.create_job(job())
    moved = job(
        status="running", next_line=500, counts=ImportCounts(added=496, invalid=2), updated_at=T0 + timedelta(1)
    )
    assert stores.imports.save_job(moved, 1, rejected(7, 3))
    assert stores.imports.get_job(ACCOUNT, "crm-1") == moved.model_copy(update={"version": 2})
    assert stores.imports.rejected_rows(ACCOUNT, "crm-1", 0, 10) == (rejected(3, 7), None)


def test_a_save_at_an_older_version_is_refused_and_writes_nothing(stores: Stores) -> None:
    stores.imports.create_job(job())
    assert stores.imports.save_job(job(status="running"), 1)
    assert not stores.imports.save_job(job(status="done"), 1, rejected(2))
    assert stores.imports.get_job(ACCOUNT, "crm-1").status == "running"
    assert stores.imports.rejected_rows(ACCOUNT, "crm-1", 0, 10) == ([], None)
    assert not stores.imports.save_job(job(account_id="beta"), 0)  # no such job


def test_rejected_rows_come_by_line_a_page_at_a_time_across_saves(stores: Stores) -> None:
    # Given three chunks' rejected rows, one chunk with more rows than an item holds
    stores.imports.create_job(job())
    assert stores.imports.save_job(job(), 1, rejected(*range(2, 452)))
    assert stores.imports.save_job(job(), 2, rejected(600, 601, kind="refused"))
    assert stores.imports.save_job(job(), 3)
    assert stores.imports.save_job(job(), 4, rejected(900))
    # When they are read 100 at a time
    lines, after, pages = [], 0, 0
    while after is not None:
        page, after = stores.imports.rejected_rows(ACCOUNT, "crm-1", after, 100)
        lines += [row.line for row in page]
        pages += 1
    # Then every row comes once, in line order
    assert lines == [*range(2, 452), 600, 601, 900]
    assert pages == 5


def test_a_page_starts_after_the_line_given_even_inside_an_item(stores: Stores) -> None:
    stores.imports.create_job(job())
    stores.imports.save_job(job(), 1, rejected(*range(2, 12)))
    page, after = stores.imports.rejected_rows(ACCOUNT, "crm-1", 5, 3)
    assert ([row.line for row in page], after) == ([6, 7, 8], 8)
    assert stores.imports.rejected_rows(ACCOUNT, "crm-1", 11, 3) == ([], None)
    page, after = stores.imports.rejected_rows(ACCOUNT, "crm-1", 8, 3)
    assert ([row.line for row in page], after) == ([9, 10, 11], None)


def test_rejected_rows_of_one_import_are_not_another_imports(stores: Stores) -> None:
    stores.imports.create_job(job("a"))
    stores.imports.create_job(job("a", account_id="beta"))
    stores.imports.create_job(job("ab"))
    stores.imports.save_job(job("a"), 1, rejected(2))
    assert stores.imports.rejected_rows("beta", "a", 0, 10) == ([], None)
    assert stores.imports.rejected_rows(ACCOUNT, "ab", 0, 10) == ([], None)
    assert [row.line for row in stores.imports.rejected_rows(ACCOUNT, "a", 0, 10)[0]] == [2]
