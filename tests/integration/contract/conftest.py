"""`stores`: every store, as the in-memory fakes and as the DynamoDB adapters on the embedded AWS endpoint.

Each test of this folder runs on both: the fakes are held to what DynamoDB does.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.domain.ports import Stores
from tests.fakes import in_memory_stores


@pytest.fixture
def table(clean_aws: Any) -> tuple[Any, str]:
    """A DynamoDB client on the embedded AWS endpoint, and the name of the service's table there (emptied)."""
    client = boto3.client("dynamodb", endpoint_url=clean_aws.endpoint_url, region_name=clean_aws.region)
    return client, clean_aws.table_name


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return in_memory_stores()
    client, table_name = request.getfixturevalue("table")
    return dynamodb_stores(client, table_name)
