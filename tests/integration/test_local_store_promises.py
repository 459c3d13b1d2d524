"""The embedded endpoint keeps DynamoDB's promises (tools/local_dynamodb.py, installed by `start_aws`).

moto 5.2.5 alone breaks two of them: its TransactWriteItems deep-copies every table it names and, when a condition
cancels it, puts the copy back, erasing whatever other requests committed meanwhile; and the copy makes every
transaction cost the whole table. These tests fail on moto alone and pass with the fix.
"""

from __future__ import annotations

import copy
import json
import random
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlencode

import pytest
import requests
from botocore.exceptions import ClientError
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from chalicelib.adapters.carriers import twilio
from chalicelib.adapters.dynamodb.table import table_definition
from tools import local_dynamodb
from tools.local_stack import HOST, client, create_resources, free_port, service_environment, start_api

SID = "AC" + "3" * 32
OUR_NUMBER = "+14155550100"
#: Four contacts, ten texts each (STOP or START at random), delivered by sixteen threads at once: four texts of each
#: contact in flight, so their optimistic transactions cancel one another often.
CONTACTS = [f"+1415555{suffix:04d}" for suffix in range(140, 144)]
TEXTS_PER_CONTACT = 10
THREADS = 16
#: How often the interpreter lets another thread run while the texts race (the endpoint runs in this process).
SWITCH_INTERVAL_SECONDS = 1e-5
#: Deliveries of one text before the test gives up on it (a carrier retries a 503 for a while, then stops).
MAX_DELIVERIES = 30


def seed(endpoint_url: str, table_name: str, prefix: str, count: int) -> None:
    """Put `count` items of their own partitions (`<prefix>#<n>` / `FILLER`) with BatchWriteItem."""
    dynamodb = client("dynamodb", endpoint_url)
    items = [{"pk": {"S": f"{prefix}#{n:06d}"}, "sk": {"S": "FILLER"}, "doc": {"S": "x" * 200}} for n in range(count)]
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        assert not dynamodb.batch_write_item(RequestItems={table_name: batch}).get("UnprocessedItems")


# --- (a) concurrent webhooks through the running local server ------------------------------------------------------


@pytest.fixture
def racing_api(aws, tmp_path):
    """(API URL, account id, admin token, Twilio auth token): `chalice local` of this test's own against the
    endpoint, told its public URL (so webhooks are signed against it however the session's server is configured),
    with a fresh account."""
    resources = create_resources(aws.url)
    operator_token = secrets.token_urlsafe(24)
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = service_environment(aws.url, resources, operator_token, public_base_url=url)
    with start_api(env, port, log_path=tmp_path / "chalice-local.log"):
        account_id = f"promises-{secrets.token_hex(4)}"
        auth_token = secrets.token_hex(16)
        response = requests.put(
            f"{url}/v1/accounts/{account_id}",
            headers={"Authorization": f"Bearer {operator_token}"},
            json={
                "name": "Concurrent texts",
                "issue_token": True,
                "carriers": {"twilio": {"account_sid": SID, "auth_token": auth_token}},
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
        yield url, account_id, response.json()["token"], auth_token


def _deliver(url: str, auth_token: str, params: dict[str, str]) -> tuple[int, int]:
    """POST a signed Twilio webhook until it is answered with anything but 503, as the carrier redelivers:
    (final status, deliveries)."""
    signature = twilio.compute_signature(url, sorted(params.items()), auth_token)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    for delivery in range(1, MAX_DELIVERIES + 1):
        status = requests.post(url, data=urlencode(params), headers=headers, timeout=30).status_code
        if status != 503:
            return status, delivery
        time.sleep(0.01 * delivery)  # a carrier backs off between redeliveries
    return 503, MAX_DELIVERIES


@pytest.fixture
def cancellations(aws, monkeypatch) -> list[int]:
    """Counts the transactions a condition cancelled in the endpoint (it runs in this process), whichever
    implementation is installed: [cancelled, committed]."""
    counts = [0, 0]
    installed = DynamoDBBackend.transact_write_items

    def counted(self, transact_items):
        try:
            installed(self, transact_items)
        except TransactionCanceledException:
            counts[0] += 1
            raise
        counts[1] += 1

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", counted)
    return counts


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    """Threads switch every 10 µs instead of every 5 ms for the test.

    moto alone loses a write only when a thread switch falls in a window of a fraction of a millisecond (between a
    cancelled transaction's copy of the table and its restore); with the default interval a short run seldom hits
    it. The fixed endpoint's outcome does not depend on when threads switch.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_every_acknowledged_text_is_in_history_when_webhooks_race(
    racing_api, cancellations, eager_thread_switches
) -> None:
    api_url, account_id, token, auth_token = racing_api
    admin = {"Authorization": f"Bearer {token}"}
    url = f"{api_url}/webhooks/twilio/{account_id}"
    texts = random.Random(20240611)

    # Given ten texts for each of four contacts, STOP or START at random, interleaved so that every contact has
    # four texts in flight at once
    deliveries = [
        (
            contact,
            {
                "MessageSid": "SM" + secrets.token_hex(16),
                "AccountSid": SID,
                "From": contact,
                "To": OUR_NUMBER,
                "Body": texts.choice(["STOP", "START"]),
            },
        )
        for _ in range(TEXTS_PER_CONTACT)
        for contact in CONTACTS
    ]

    # When sixteen threads deliver them, each redelivered on a 503 until acknowledged
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda delivery: _deliver(url, auth_token, delivery[1]), deliveries))

    # Then every text was acknowledged, after redeliveries of some, and the texts did race: transactions were
    # cancelled by their conditions (and retried)
    statuses = [status for status, _ in answers]
    assert statuses == [200] * len(deliveries), f"refused: {[s for s in statuses if s != 200]}"
    assert cancellations[0] > 0, f"transactions cancelled, committed: {cancellations}"
    for contact in CONTACTS:
        number = f"{api_url}/v1/accounts/{account_id}/numbers/%2B{contact[1:]}"
        events = requests.get(f"{number}/history", headers=admin, timeout=10).json()["events"]
        # And every acknowledged text is in the contact's history, once
        acknowledged = [
            f"twilio:{params['MessageSid']}"
            for (who, params), (status, _) in zip(deliveries, answers, strict=True)
            if who == contact and 200 <= status < 300
        ]
        stored = [event["event_id"] for event in events]
        assert sorted(stored) == sorted(acknowledged), f"{contact}: acknowledged {acknowledged}, stored {stored}"
        # And the number's state follows its last text by carrier time (equal times: either may be last)
        latest = max(datetime.fromisoformat(event["occurred_at"]) for event in events)
        last_actions = {event["action"] for event in events if datetime.fromisoformat(event["occurred_at"]) == latest}
        sendable = requests.get(number, headers=admin, timeout=10).json()["sendable"]
        assert ("opt_in" if sendable else "opt_out") in last_actions, f"{contact}: state does not follow {events}"


# --- (b) the store itself --------------------------------------------------------------------------------------------


def _contents(dynamodb, table_name: str) -> dict[tuple[str, str], dict]:
    """Every item of the table by (pk, sk), read with a paginated Scan."""
    items: dict[tuple[str, str], dict] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        items.update({(item["pk"]["S"], item["sk"]["S"]): item for item in page["Items"]})
    return items


def _commit(table_name: str, phone: str, version: int, event_id: str) -> list[dict]:
    """The transaction DynamoDBNumberStore.commit writes: the state item at `version` + 1, conditional on
    `version`; the event, conditional on its novelty; the inbound message."""
    return [
        {
            "Update": {
                "TableName": table_name,
                "Key": {"pk": {"S": f"NUMBER#b#{phone}"}, "sk": {"S": "STATE"}},
                "UpdateExpression": "SET #doc = :doc, #version = :next",
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#doc": "doc", "#version": "version"},
                "ExpressionAttributeValues": {
                    ":doc": {"S": "{}"},
                    ":next": {"N": str(version + 1)},
                    ":expected": {"N": str(version)},
                },
            }
        },
        {
            "Put": {
                "TableName": table_name,
                "Item": {"pk": {"S": f"NUMBER#b#{phone}"}, "sk": {"S": f"EVENT#{event_id}"}, "doc": {"S": "{}"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {"Put": {"TableName": table_name, "Item": {"pk": {"S": f"INBOUND#b#{event_id}"}, "sk": {"S": "INBOUND"}}}},
    ]


def test_a_cancelled_transaction_leaves_every_other_item_as_committed(resources, monkeypatch) -> None:
    endpoint, table_name = resources.endpoint_url, resources.table_name
    dynamodb, writer = client("dynamodb", endpoint), client("dynamodb", endpoint)
    # Given committed items, among them a number's state at version 1
    seed(endpoint, table_name, "KEPT", 50)
    state_key = {"pk": {"S": "NUMBER#b#+14155550150"}, "sk": {"S": "STATE"}}
    dynamodb.put_item(TableName=table_name, Item=state_key | {"version": {"N": "1"}})
    committed = _contents(dynamodb, table_name)

    # And another request that writes an item while the transaction below runs: a hook in the endpoint's item reads
    # (it runs in this process) starts it when the transaction checks its second item, and gives it half a second
    meanwhile = {"pk": {"S": "MEANWHILE"}, "sk": {"S": "ITEM"}}
    written = threading.Event()
    write = threading.Thread(target=lambda: (writer.put_item(TableName=table_name, Item=meanwhile), written.set()))
    moto_get_item = DynamoDBBackend.get_item

    def get_item(self, table_name, keys, projection_expressions=None):
        if keys.get("pk") == {"S": "PAUSE"} and write.ident is None:
            write.start()
            written.wait(0.5)  # moto alone: the write lands now; with the fix it waits for the transaction
        return moto_get_item(self, table_name, keys, projection_expressions)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item)

    # When a transaction puts an item, checks another, and is cancelled by its last condition (a stale version)
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table_name, "Item": {"pk": {"S": "NEW"}, "sk": {"S": "ITEM"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table_name,
                        "Key": {"pk": {"S": "PAUSE"}, "sk": {"S": "ITEM"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": state_key,
                        "UpdateExpression": "SET #version = :next",
                        "ConditionExpression": "#version = :expected",
                        "ExpressionAttributeNames": {"#version": "version"},
                        "ExpressionAttributeValues": {":next": {"N": "8"}, ":expected": {"N": "7"}},
                    }
                },
            ]
        )
    write.join(10)

    # Then it was cancelled for its last condition, as the service reads the reasons
    error = cancelled.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in error["CancellationReasons"]] == ["None", "None", "ConditionalCheckFailed"]
    # And the table holds what was committed before, plus the write committed meanwhile, and nothing of the
    # cancelled transaction
    assert written.is_set()
    assert _contents(dynamodb, table_name) == committed | {("MEANWHILE", "ITEM"): meanwhile}


def test_a_transaction_costs_the_items_it_writes_not_the_table(resources, monkeypatch) -> None:
    endpoint, table_name = resources.endpoint_url, resources.table_name
    dynamodb = client("dynamodb", endpoint)
    # Given the endpoint counts the items it copies (moto's copy of a table copies each of its items), and what its
    # instance tracker keeps
    copies = [0]
    copy_item = Item.__deepcopy__

    def counted_copy(self, memo):
        copies[0] += 1
        return copy_item(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counted_copy)

    def cost(phone: str) -> tuple[int, int, int]:
        """(items copied by the service's commit, by the same commit repeated and cancelled, items tracked since)"""
        dynamodb.put_item(
            TableName=table_name,
            Item={"pk": {"S": f"NUMBER#b#{phone}"}, "sk": {"S": "STATE"}, "version": {"N": "1"}},
        )
        tracked = len(Item.instances_tracked)
        copies[0] = 0
        dynamodb.transact_write_items(TransactItems=_commit(table_name, phone, 1, f"SM{phone}"))
        committed = copies[0]
        copies[0] = 0
        with pytest.raises(ClientError) as repeated:
            dynamodb.transact_write_items(TransactItems=_commit(table_name, phone, 1, f"SM{phone}"))
        reasons = [reason["Code"] for reason in repeated.value.response["CancellationReasons"]]
        assert reasons == ["ConditionalCheckFailed", "ConditionalCheckFailed", "None"]
        return committed, copies[0], len(Item.instances_tracked) - tracked

    # When the service's transaction runs on a table of a few items, and again on one of a thousand more
    small = cost("+14155550160")
    seed(endpoint, table_name, "OTHER", 1000)
    large = cost("+14155550161")

    # Then it copies as many items either way, no more than it writes, and keeps nothing beside the table
    assert small == large
    committed, cancelled, tracked = large
    assert committed <= 3 and cancelled <= 3 and tracked == 0


# --- the same semantics as moto's own transactions, and queries -----------------------------------------------------

TABLE = "t"
A = {"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}}
B = {"pk": {"S": "b"}, "sk": {"S": "1"}, "n": {"N": "1"}}
C = {"pk": {"S": "c"}, "sk": {"S": "1"}, "n": {"N": "1"}}
KEY_A, KEY_B, KEY_C = ({"pk": item["pk"], "sk": item["sk"]} for item in (A, B, C))
ONE, TWO = {":one": {"N": "1"}}, {":two": {"N": "2"}}
ADD_ONE = {"UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": ONE}


def _op(kind: str, **fields) -> dict:
    return {kind: {"TableName": TABLE, **fields}}


TRANSACTIONS = {
    "committed": [
        _op("Put", Item=C),
        _op("Update", Key=KEY_A, ConditionExpression="n = :one", **ADD_ONE),
        _op("Delete", Key=KEY_B),
    ],
    "cancelled by its last condition": [
        _op("Put", Item=C),
        _op("Update", Key=KEY_A, **ADD_ONE),
        _op("Delete", Key=KEY_B, ConditionExpression="attribute_not_exists(pk)"),
    ],
    "cancelled by its first condition": [
        _op("ConditionCheck", Key=KEY_A, ConditionExpression="n = :two", ExpressionAttributeValues=TWO),
        _op("Update", Key=KEY_B, **ADD_ONE),
        _op("Put", Item=C),
    ],
    "cancelled, with the old item": [
        _op("Update", Key=KEY_B, **ADD_ONE),
        _op(
            "ConditionCheck",
            Key=KEY_A,
            ConditionExpression="n = :two",
            ExpressionAttributeValues=TWO,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
    ],
    "an update that creates an item, cancelled": [
        _op("Update", Key=KEY_C, UpdateExpression="SET n = :one", ExpressionAttributeValues=ONE),
        _op("Put", Item=A, ConditionExpression="attribute_not_exists(pk)"),
    ],
    "two operations on one item": [_op("Put", Item=C), _op("Update", Key=KEY_A, **ADD_ONE), _op("Delete", Key=KEY_A)],
    "a key of the wrong type": [_op("Put", Item=C), _op("Put", Item={"pk": {"N": "1"}, "sk": {"S": "1"}})],
    "an update that cannot apply": [
        _op("Put", Item=C),
        _op("Update", Key=KEY_A, UpdateExpression="SET n = n + :s", ExpressionAttributeValues={":s": {"S": "x"}}),
    ],
    "an unknown table": [_op("Put", Item=C), {"Put": {"TableName": "missing", "Item": B}}],
    "too many operations": [_op("Put", Item={"pk": {"S": f"p{n}"}, "sk": {"S": "1"}}) for n in range(101)],
}


def _backend(*items: dict) -> DynamoDBBackend:
    """A DynamoDB backend of its own (not the endpoint's) with a table of the service's layout holding `items`."""
    definition = table_definition(TABLE)
    backend = DynamoDBBackend("us-east-1", "123456789012")
    backend.create_table(
        TABLE,
        schema=definition["KeySchema"],
        throughput=None,
        attr=definition["AttributeDefinitions"],
        global_indexes=definition["GlobalSecondaryIndexes"],
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=None,
        warm_throughput=None,
    )
    for item in items:
        backend.put_item(TABLE, copy.deepcopy(item))
    return backend


def _run(transact, backend: DynamoDBBackend, transaction: list[dict]) -> tuple[object, list[str]]:
    """(what the transaction answered, the table's items afterwards)."""
    try:
        transact(backend, copy.deepcopy(transaction))
        answer: object = "committed"
    except Exception as error:  # compared as they are: type, and the body moto would send
        answer = (type(error).__name__, getattr(error, "description", str(error)))
    items = sorted(json.dumps(item.to_json(), sort_keys=True) for item in backend.get_table(TABLE).all_items())
    return answer, items


@pytest.mark.parametrize("name", TRANSACTIONS)
def test_a_transaction_answers_and_writes_as_motos_own(name: str) -> None:
    transaction = TRANSACTIONS[name]
    ours, motos = _backend(A, B), _backend(A, B)
    # Run twice: a repeated transaction runs again (no ClientRequestToken cache, as in moto) and its conditions decide
    for _ in range(2):
        assert _run(local_dynamodb.transact_write_items, ours, transaction) == _run(
            local_dynamodb.MOTO_TRANSACT_WRITE_ITEMS, motos, transaction
        )


def test_an_error_that_escapes_a_transaction_undoes_all_of_it() -> None:
    # Given a transaction whose second operation is two at once, an error moto raises outside its undo
    transaction = [
        _op("Put", Item=C),
        {"Put": {"TableName": TABLE, "Item": B}, "Delete": {"TableName": TABLE, "Key": KEY_A}},
    ]
    # When it runs, on the fix and on moto alone
    ours = _run(local_dynamodb.transact_write_items, _backend(A, B), transaction)
    motos = _run(local_dynamodb.MOTO_TRANSACT_WRITE_ITEMS, _backend(A, B), transaction)
    # Then both answer the error, and the fix leaves the table as it was, where moto keeps the first Put
    untouched = _run(lambda backend, transaction: None, _backend(A, B), [])[1]
    assert ours[0] == motos[0] and ours[0][0] == "TransactWriteSingleOpException"
    assert ours[1] == untouched != motos[1]


def _queried(partition: str, comparison: str | None = None, values=(), *, index: str | None = None, **query):
    """backend.query's arguments for a query of a partition of the table (`pk`) or of gsi1 (`gsi1pk`), as
    moto's handler passes them."""
    hash_name, range_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
    ranges = [(range_name, comparison, [{"S": value} for value in values])] if comparison else []
    return {
        "hash_key_dict": {"S": partition},
        "range_comparison": comparison,
        "range_value_dicts": [{"S": value} for value in values],
        "limit": query.get("limit"),
        "exclusive_start_key": query.get("start"),
        "scan_index_forward": query.get("forward", True),
        "projection_expressions": None,
        "index_name": index,
        "hash_key_conditions": [(hash_name, {"S": partition})],
        "range_key_conditions": ranges,
    }


LISTED_LAST = {"pk": {"S": "n#7"}, "sk": {"S": "STATE"}, "gsi1pk": {"S": "L"}, "gsi1sk": {"S": "p1"}}
QUERIES = {
    "a partition": _queried("n"),
    "backwards": _queried("n", forward=False),
    "a range of it": _queried("n", "BEGINS_WITH", ["EVENT#"]),
    "a page": _queried("n", limit=2),
    "the next page": _queried("n", limit=2, start={"pk": {"S": "n"}, "sk": {"S": "EVENT#2"}}),
    "an empty partition": _queried("none"),
    "an index": _queried("L", index="gsi1"),
    "an index backwards": _queried("L", index="gsi1", forward=False),
    "a range of an index": _queried("L", ">", ["p1"], index="gsi1"),
    "a page of an index": _queried("L", index="gsi1", limit=3),
    "the next page of an index": _queried("L", index="gsi1", limit=3, start=LISTED_LAST),
}


@pytest.mark.parametrize("name", QUERIES)
def test_a_query_finds_what_motos_own_finds(name: str, monkeypatch) -> None:
    # Given one number's state and events, and states of other numbers listed in gsi1 under sort keys that repeat
    # (the table's keys order them)
    listed = [
        {"pk": {"S": f"n#{n}"}, "sk": {"S": "STATE"}, "gsi1pk": {"S": "L"}, "gsi1sk": {"S": f"p{n % 3}"}}
        for n in (9, 3, 7, 1, 5, 2)
    ]
    number = [{"pk": {"S": "n"}, "sk": {"S": sk}} for sk in ("STATE", "EVENT#3", "EVENT#1", "EVENT#2", "EVENT#4")]
    backend = _backend(*number, *listed)

    def found(query) -> tuple[list, int, object]:
        monkeypatch.setattr(Table, "query", query)
        items, scanned, last = backend.query(TABLE, **QUERIES[name])
        return [item.to_json() for item in items], scanned, last

    # Then both find the same items, in the same order, with the same next key
    ours, motos = found(local_dynamodb.partition_query), found(local_dynamodb.MOTO_QUERY)
    assert ours == motos
    assert bool(ours[0]) == (name != "an empty partition")


def test_another_moto_version_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(local_dynamodb, "moto_version", lambda: "5.3.0")
    with pytest.raises(local_dynamodb.UnsupportedMotoVersion, match="5.3.0"):
        local_dynamodb.install()
