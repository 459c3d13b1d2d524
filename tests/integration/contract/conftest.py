"""`stores`: every store, as the in-memory fakes and as the DynamoDB adapters on the embedded AWS endpoint.

Each test of this folder runs on both: the fakes are held to what DynamoDB does.
"""

from __future__ import annotations

import boto3
import pytest

from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.domain.ports import Stores
from tests.fakes import in_memory_stores


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return in_memory_stores()
    resources = request.getfixturevalue("clean_aws")
    client = boto3.client("dynamodb", endpoint_url=resources.endpoint_url, region_name=resources.region)
    return dynamodb_stores(client, resources.table_name)
