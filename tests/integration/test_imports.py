"""Bulk import end to end on the embedded AWS: the request through the app, the file in S3, the job's chunks through
SQS and the send function (the local queue worker), every row on DynamoDB; and an upload through a presigned POST."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest
import requests
from botocore.config import Config
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.adapters.s3_import_files import S3ImportFiles
from chalicelib.adapters.sqs_queue import SqsSendQueue
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.models import Source
from chalicelib.settings import Settings
from tests.containers import RecordingMailer, registry
from tests.fakes import InMemorySecretStore
from tests.integration.contract.examples import commit, opt_out
from tools.local_worker import LocalWorker

OPERATOR = "import-operator-token"
PATH = "/v1/accounts/acme/suppressions/import"


class ChangeEventsAside(SqsSendQueue):
    """The send queue on SQS, but the rows' change events are kept here rather than queued: their fan-out has its
    own tests (test_change_events.py), and 2,000 of them on the embedded SQS would only slow the import's tasks."""

    def __init__(self, client, queue_url: str) -> None:
        super().__init__(client, queue_url)
        self.change_jobs: list[ChangeEventJob] = []

    def enqueue_jobs(self, jobs) -> dict[str, str]:
        self.change_jobs.extend(job for job in jobs if isinstance(job, ChangeEventJob))
        emails = [job for job in jobs if not isinstance(job, ChangeEventJob)]
        return super().enqueue_jobs(emails) if emails else {}


@pytest.fixture
def real(clean_aws):
    """The app on the real adapters of the embedded endpoint (DynamoDB, S3, SQS), the account `acme`."""
    region, endpoint = clean_aws.region, clean_aws.endpoint_url
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=Config(signature_version="s3v4"))
    settings = Settings(
        table_name=clean_aws.table_name,
        send_queue_url=clean_aws.queue_url,
        operator_token=OPERATOR,
        import_bucket=clean_aws.import_bucket,
    )
    stores = replace(
        dynamodb_stores(dynamodb, clean_aws.table_name),
        import_files=S3ImportFiles(lambda: s3, clean_aws.import_bucket),
    )
    parts = wiring.Container(
        settings,
        stores=stores,
        secrets=InMemorySecretStore(),
        queue=ChangeEventsAside(sqs, clean_aws.queue_url),
        mailer=RecordingMailer(),
        carriers=registry(None, settings),
    )
    wiring.use(parts)
    upsert_account(parts.stores.accounts, parts.secrets, parts.carriers, "acme", AccountSettingsIn(name="Acme"), now())
    with Client(application.app) as client:
        yield type("Real", (), {"parts": parts, "client": client, "s3": s3, "resources": clean_aws})
    wiring.use(None)


def now() -> datetime:
    return datetime.now(UTC)


def post_csv(real, csv: str, **query: str):
    query_string = "&".join(f"{name}={value}" for name, value in query.items())
    return real.client.http.post(
        f"{PATH}?{query_string}",
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "text/csv"},
        body=csv,
    )


def result(real, import_id: str, cursor: str | None = None) -> dict:
    suffix = f"?limit=1000&cursor={cursor}" if cursor else "?limit=1000"
    response = real.client.http.get(f"{PATH}/{import_id}{suffix}", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def run_until_finished(real, import_id: str, timeout: float = 600) -> dict:
    """The local queue worker feeds the send queue to the send function until the import is done or failed."""
    worker = LocalWorker(
        real.resources.queue_url,
        handler=application.handle_send_queue,
        endpoint_url=real.resources.endpoint_url,
        wait_seconds=1,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = result(real, import_id)
        if job["status"] in ("done", "failed"):
            return job
        worker.run_once(wait_seconds=1)
    raise AssertionError(f"the import {import_id} did not finish in {timeout} s: {result(real, import_id)}")


def queued_messages(real) -> int:
    sqs = boto3.client("sqs", endpoint_url=real.resources.endpoint_url, region_name=real.resources.region)
    attributes = sqs.get_queue_attributes(
        QueueUrl=real.resources.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_a_2000_row_import_on_dynamodb_counts_right_reset_refuses_the_contacts_own_and_an_id_again_changes_nothing(
    real,
) -> None:
    # Given 2,000 rows: 1% invalid, 1% numbers whose contact texted STOP
    rows, keyword_numbers = ["phone,scope,notes"], []
    for n in range(2000):
        phone = f"+1415{3000000 + n:07d}"
        if n % 100 == 0:
            rows.append(f"555-{n},,")
        else:
            rows.append(f"{phone},,from the CRM")
            if n % 100 == 1:
                keyword_numbers.append(phone)
                commit(real.parts.stores, opt_out(phone, f"twilio:SM{n}", at=now()))
    csv = "\n".join(rows) + "\n"

    # When it is posted and the send function runs its chunks off the queue
    response = post_csv(real, csv, import_id="crm-2026-11")
    assert response.status_code == 202, response.body
    job = run_until_finished(real, "crm-2026-11")

    # Then every row is counted once, and the file is kept in the bucket, encrypted
    assert (job["status"], job["rows"], job["processed"]) == ("done", 2000, 2000)
    assert job["counts"] == {
        "added": 1960,
        "already_suppressed": 20,
        "lifted": 0,
        "not_suppressed": 0,
        "invalid": 20,
        "refused": 0,
    }
    assert sorted(row["line"] for row in job["rejected"]) == [n + 2 for n in range(0, 2000, 100)]
    stored = real.s3.list_objects_v2(Bucket=real.resources.import_bucket, Prefix="imports/acme/crm-2026-11/")
    (key,) = [item["Key"] for item in stored["Contents"]]
    assert real.s3.head_object(Bucket=real.resources.import_bucket, Key=key)["ServerSideEncryption"] == "AES256"
    state, _ = real.parts.stores.numbers.load("acme", "+14153000002")
    assert state.suppressions["all"].source is Source.IMPORT
    assert state.suppressions["all"].event_id == "import:crm-2026-11:4"
    events_before = real.parts.stores.history.history("acme", "+14153000002")

    # And each added suppression went out as a change event
    assert len(real.parts.queue.change_jobs) == 1960
    assert {job.events[0].type for job in real.parts.queue.change_jobs} == {"suppression.created"}

    # When the same import id is posted again
    again = post_csv(real, csv, import_id="crm-2026-11")

    # Then it answers the job as it was, and queues nothing
    assert again.status_code == 200 and json.loads(again.body)["counts"] == job["counts"]
    assert queued_messages(real) == 0
    assert real.parts.stores.history.history("acme", "+14153000002") == events_before

    # When the list is imported again to reset earlier opt-outs
    assert post_csv(real, csv, import_id="crm-2026-11-reset", mode="reset").status_code == 202
    job = run_until_finished(real, "crm-2026-11-reset")

    # Then the import's suppressions are lifted and each contact's own STOP is refused, saying why
    assert (job["counts"]["lifted"], job["counts"]["refused"], job["counts"]["invalid"]) == (1960, 20, 20)
    refused = [row for row in job["rejected"] if row["kind"] == "refused"]
    assert sorted(row["phone"] for row in refused) == sorted(keyword_numbers)
    assert all("is the contact's own" in row["reason"] for row in refused)
    for phone in keyword_numbers:
        assert real.parts.stores.numbers.load("acme", phone)[0].suppressions["all"].source is Source.KEYWORD
    assert real.parts.stores.numbers.load("acme", "+14153000002")[0].suppressions == {}


def test_a_file_posted_to_the_upload_url_is_imported_by_its_upload_id(real) -> None:
    # Given an upload URL from the API
    response = real.client.http.post(f"{PATH}/uploads", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert response.status_code == 201, response.body
    upload = json.loads(response.body)
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"

    # When a file is posted to it, as a browser or curl would, and imported by its upload id
    csv = "phone,scope\n" + "".join(f"+1415{4000000 + n:07d},group:newsletter\n" for n in range(300))
    posted = requests.post(upload["url"], data=upload["fields"], files={"file": ("list.csv", csv.encode())}, timeout=10)
    assert posted.status_code in (200, 201, 204), posted.text
    response = real.client.http.post(
        PATH,
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps({"import_id": "newsletter-list", "upload_id": upload["upload_id"], "dry_run": False}),
    )
    assert response.status_code == 202, response.body

    # Then its rows are counted and imported
    job = run_until_finished(real, "newsletter-list")
    assert (job["origin"], job["rows"], job["counts"]["added"]) == ("upload", 300, 300)
    state, _ = real.parts.stores.numbers.load("acme", "+14154000299")
    assert state.suppressions["group:newsletter"].source is Source.IMPORT


def test_an_import_of_an_upload_never_posted_is_a_400(real) -> None:
    response = real.client.http.post(
        PATH,
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        body=json.dumps({"import_id": "nothing", "upload_id": "f" * 32}),
    )
    assert response.status_code == 400 and "no upload" in response.body.decode()
