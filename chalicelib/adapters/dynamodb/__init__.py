"""The stores on one DynamoDB table: one module per port, the table's layout in `table`."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.accounts import DynamoDBAccountStore
from chalicelib.adapters.dynamodb.activity import DynamoDBActivityLog
from chalicelib.adapters.dynamodb.emails import DynamoDBEmailLog
from chalicelib.adapters.dynamodb.endpoints import DynamoDBEventEndpoints
from chalicelib.adapters.dynamodb.groups import DynamoDBGroups
from chalicelib.adapters.dynamodb.history import DynamoDBHistory
from chalicelib.adapters.dynamodb.imports import DynamoDBImportJobs
from chalicelib.adapters.dynamodb.inbound import DynamoDBInboundLog
from chalicelib.adapters.dynamodb.numbers import DynamoDBNumberStore
from chalicelib.adapters.dynamodb.outbound import DynamoDBOutboundLog
from chalicelib.adapters.dynamodb.outbox import DynamoDBOutbox
from chalicelib.adapters.dynamodb.parts import DynamoDBMessageParts
from chalicelib.adapters.dynamodb.reports import DynamoDBReportCounters
from chalicelib.domain.ports import Stores

__all__ = [
    "DynamoDBAccountStore",
    "DynamoDBActivityLog",
    "DynamoDBEmailLog",
    "DynamoDBEventEndpoints",
    "DynamoDBGroups",
    "DynamoDBHistory",
    "DynamoDBInboundLog",
    "DynamoDBMessageParts",
    "DynamoDBNumberStore",
    "DynamoDBOutboundLog",
    "DynamoDBOutbox",
    "DynamoDBReportCounters",
    "dynamodb_stores",
]


def dynamodb_stores(client: Any, table_name: str) -> Stores:
    """Every store on the table `table_name`, all sharing `client` (a boto3 DynamoDB client)."""
    return Stores(
        accounts=DynamoDBAccountStore(client, table_name),
        numbers=DynamoDBNumberStore(client, table_name),
        history=DynamoDBHistory(client, table_name),
        inbound=DynamoDBInboundLog(client, table_name),
        outbox=DynamoDBOutbox(client, table_name),
        outbound=DynamoDBOutboundLog(client, table_name),
        emails=DynamoDBEmailLog(client, table_name),
        parts=DynamoDBMessageParts(client, table_name),
        imports=DynamoDBImportJobs(client, table_name),
        endpoints=DynamoDBEventEndpoints(client, table_name),
        activity=DynamoDBActivityLog(client, table_name),
        reports=DynamoDBReportCounters(client, table_name),
        groups=DynamoDBGroups(client, table_name),
    )
