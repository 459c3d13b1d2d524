"""AccountStore on the single table: one item per account (layout in `table`)."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb.calls import call, get_document
from chalicelib.adapters.dynamodb.table import account_key
from chalicelib.domain.models import Account


class DynamoDBAccountStore:
    """The production AccountStore. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get_account(self, account_id: str) -> Account | None:
        """The account's settings, strongly consistent; None when there is no such account."""
        return get_document(self._client, self._table, account_key(account_id), Account)

    def put_account(self, account: Account) -> None:
        """Create or replace the account's settings."""
        item = {**account_key(account.account_id), "doc": {"S": account.model_dump_json()}}
        call(self._client, "put_item", TableName=self._table, Item=item)
