"""Groups on the single table: each group an item in its account's groups partition, and one small index item per
word of its name in the account's name-word partition, so a search is a Query with `begins_with`, never a Scan
(layout in `table`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.adapters.dynamodb.calls import call, conditional_transaction, transaction
from chalicelib.adapters.dynamodb.cursors import decode_position, encode_position
from chalicelib.adapters.dynamodb.table import group_key, group_word_key, group_word_partition, groups_partition
from chalicelib.domain.errors import InvalidRequest, StoreUnavailable
from chalicelib.domain.groups import Group, GroupKind, indexed_by, matches, search_word

#: Queries one page may take before it answers short, with a cursor to go on from.
MAX_QUERIES_PER_PAGE = 10


class DynamoDBGroups:
    """The production Groups. `client` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def save_group(self, group: Group, previous: Group | None) -> bool:
        """The group item (conditional on its version) and its name's word items, old words deleted, in one
        transaction."""
        version = 1 if previous is None else previous.version + 1
        doc = group.model_dump_json(exclude={"version"})
        main: dict[str, Any] = {
            "TableName": self._table,
            "Item": {**group_key(group.account_id, group.id), "doc": {"S": doc}, "version": {"N": str(version)}},
        }
        if previous is None:
            main["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            main["ConditionExpression"] = "#version = :expected"
            main["ExpressionAttributeNames"] = {"#version": "version"}
            main["ExpressionAttributeValues"] = {":expected": {"N": str(previous.version)}}
        items: list[dict[str, Any]] = [{"Put": main}]
        for word in group.words:
            item = {**group_word_key(group.account_id, word, group.id), "doc": {"S": doc}}
            items.append({"Put": {"TableName": self._table, "Item": item}})
        stale = set(previous.words if previous is not None else ()) - set(group.words)
        for word in sorted(stale):
            key = group_word_key(group.account_id, word, group.id)
            items.append({"Delete": {"TableName": self._table, "Key": key}})
        return conditional_transaction(self._client, items, "save the group")

    def get_group(self, account_id: str, group_id: str) -> Group | None:
        item = call(
            self._client, "get_item", TableName=self._table, Key=group_key(account_id, group_id), ConsistentRead=True
        ).get("Item")
        return _group(item, with_version=True) if item else None

    def delete_group(self, group: Group) -> None:
        keys = [group_key(group.account_id, group.id)]
        keys += [group_word_key(group.account_id, word, group.id) for word in group.words]
        items = [{"Delete": {"TableName": self._table, "Key": key}} for key in keys]
        reasons = transaction(self._client, items, "delete the group")
        if reasons is not None:
            raise StoreUnavailable(f"could not delete the group: {reasons}")

    def list_groups(
        self, account_id: str, kind: GroupKind | None, cursor: str | None, limit: int
    ) -> tuple[list[Group], str | None]:
        partition = groups_partition(account_id)
        return self._page(partition, None, cursor, limit, lambda group, _: kind is None or group.kind == kind)

    def search_groups(
        self, account_id: str, words: Sequence[str], kind: GroupKind | None, cursor: str | None, limit: int
    ) -> tuple[list[Group], str | None]:
        prefix = search_word(words)

        def wanted(group: Group, sort_key: str) -> bool:
            # Only under the first word of its name with the prefix: a group is answered once.
            word = indexed_by(group, prefix)
            return word is not None and sort_key == f"{word}#{group.id}" and matches(group, words, kind)

        return self._page(group_word_partition(account_id), prefix, cursor, limit, wanted)

    def _page(
        self,
        partition: str,
        prefix: str | None,
        cursor: str | None,
        limit: int,
        wanted: Callable[[Group, str], bool],
    ) -> tuple[list[Group], str | None]:
        """Up to `limit` wanted groups of `partition` (sort keys beginning with `prefix`) after `cursor`, and the
        cursor of the rest (None: no more). Reads one item past a full page, so an unfiltered listing knows.

        A cursor is a position (a sort key) in this listing (`cursors.encode_position`): one of another listing, or
        a sort key without the prefix, is an InvalidRequest, never a ValidationException from DynamoDB."""
        listing = [partition, prefix or ""]
        start = decode_position(cursor, listing) if cursor is not None else None
        if start is not None and not start.startswith(prefix or ""):
            raise InvalidRequest("the cursor is not one this service returned", cursor=cursor)
        condition = "pk = :p" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":p": {"S": partition}}
        if prefix:
            values[":prefix"] = {"S": prefix}
        found: list[Group] = []
        for _ in range(MAX_QUERIES_PER_PAGE):
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ConsistentRead": True,
                "Limit": min(1000, limit - len(found) + 1),
            }
            if start is not None:
                kwargs["ExclusiveStartKey"] = {"pk": {"S": partition}, "sk": {"S": start}}
            response = call(self._client, "query", **kwargs)
            items = response.get("Items", [])
            for item in items:
                sort_key = item["sk"]["S"]
                group = _group(item, with_version=False)
                if wanted(group, sort_key):
                    if len(found) == limit:
                        # One more wanted than the page holds: the page ends at the item before.
                        return found, encode_position(listing, start) if start is not None else None
                    found.append(group)
                start = sort_key
            if not response.get("LastEvaluatedKey"):
                return found, None
        return found, encode_position(listing, start) if start is not None else None


def _group(item: dict[str, Any], *, with_version: bool) -> Group:
    group = Group.model_validate_json(item["doc"]["S"])
    if with_version:
        group = group.model_copy(update={"version": int(item["version"]["N"])})
    return group
