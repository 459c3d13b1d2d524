"""DynamoDB in the embedded endpoint that keeps the promises the service relies on: a committed write is never lost,
and a transaction costs what it touches, not the table.

moto 5.2.5's DynamoDB breaks both (read in `moto/dynamodb/models/__init__.py` and `models/table.py`):

- `DynamoDBBackend.transact_write_items` deep-copies every table the transaction names before it starts and, when a
  condition cancels it, puts the copies back in place of the tables. Its cost grows with the table (and every copied
  `Item` is a `BaseModel`, appended to moto's instance tracker for good: memory grows with table x transactions).
  Worse, moto's server answers each request on its own thread with nothing serialising them, so a write another
  request commits between the copy and the restore is erased, though its client was told it succeeded; a write
  that lands while the copy iterates a partition fails the copy ("dictionary changed size during iteration").
- The other operations are not atomic either: an UpdateItem changes the live item's attributes one by one while
  another thread serialises the same item for a GetItem, a Query sorts every item of the table, and the response
  handlers read an item again (ReturnValues) apart from the write that changed it.

`install()`, called by `tools.local_stack.start_aws` before the server answers, patches the moto classes of this
process (the server runs in one of its threads):

1. Every DynamoDB request runs under one lock, from the moment its parameters are parsed to the serialised answer
   (`DynamoHandler.call_action`): a request is atomic, as each DynamoDB operation is, and nothing iterates a
   dictionary another request is changing. Request-wide rather than per backend method, because the handlers in
   `moto/dynamodb/responses.py` hand live `Item`s to the serialiser after the backend method returned, and
   BatchWriteItem and UpdateItem call the backend more than once.
2. `transact_write_items` keeps an undo log instead of copying tables: before each Put, Update or Delete it saves a
   copy of the one item it is about to change (or its absence), and a cancelled transaction puts back exactly those
   items. The rest of the function is moto's own, step for step: conditions are checked against the current item
   in the order given, a failed one is a `ConditionalCheckFailed` cancellation reason (with the old item under
   `ReturnValuesOnConditionCheckFailure: ALL_OLD`), other errors become reasons named after their exception,
   `MultipleTransactionsException` and validation errors undo and re-raise. Like moto, it ignores
   `ClientRequestToken` (a repeated transaction runs again, and its conditions decide) and never answers
   `TransactionConflict` (with the lock, two transactions never overlap). One difference, on purpose: any error
   that escapes (moto lets `TransactWriteSingleOpException` escape with the earlier operations applied) undoes the
   whole transaction.
3. A Query of the table itself reads the queried partition only, as DynamoDB does; moto sorts every item of the
   table and then keeps the partition's. A Query of an index skips that sort of the whole table (it sorts its
   matches anyway) but still reads every item: moto keeps no index, and neither does this. Same items, same order.
4. DynamoDB `Item`s are left out of moto's instance tracker (`BaseModel.__new__` appends every instance to a
   class-wide list that only a reset empties, and `GET /moto-api/data.json` walks it): the tracker grew with every
   write and every item a query copied, not with the table. The items stay in their tables; data.json no longer
   lists them (it listed every copy ever made, stale ones included).

The patches are written against moto 5.2.5 (requirements-dev.txt pins `moto[server]==5.2.5`); `install()` refuses any
other version, loudly: re-read the functions above in the new version, then update CHECKED_MOTO_VERSION.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

#: The moto version whose code the patches below were checked against.
CHECKED_MOTO_VERSION = "5.2.5"

#: Serialises every DynamoDB request of this process's moto. Reentrant: a handler may call another operation.
_LOCK = threading.RLock()

#: moto's own functions, kept to restore them (uninstall) and for tests that compare behaviours.
MOTO_CALL_ACTION = DynamoHandler.call_action
MOTO_TRANSACT_WRITE_ITEMS = DynamoDBBackend.transact_write_items
MOTO_QUERY = Table.query
#: Item inherits BaseModel.__new__ (the tracker); the patch gives it one of its own, which uninstall removes.
_ITEM_HAS_OWN_NEW = "__new__" in vars(Item)

_installed = False


class UnsupportedMotoVersion(RuntimeError):
    """The installed moto is not the version these patches were checked against."""


def install() -> None:
    """Patch this process's moto DynamoDB (see the module's docstring); safe to call again.

    Raises UnsupportedMotoVersion unless moto is CHECKED_MOTO_VERSION: the patches replace moto functions with
    versions of their 5.2.5 code, and a moto that changed them would be silently unpatched or broken.
    """
    global _installed
    version = moto_version()
    if version != CHECKED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"tools/local_dynamodb.py patches moto {CHECKED_MOTO_VERSION}'s DynamoDB and this is moto {version}: "
            f"the embedded endpoint would lose committed writes under concurrency. Pin moto[server]=="
            f"{CHECKED_MOTO_VERSION} (requirements-dev.txt), or re-check the patched functions against {version} "
            "and update CHECKED_MOTO_VERSION."
        )
    with _LOCK:
        if _installed:
            return
        DynamoHandler.call_action = _serialised(MOTO_CALL_ACTION)  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        Table.query = partition_query  # type: ignore[method-assign]
        Item.__new__ = _untracked_item  # type: ignore[method-assign]
        _installed = True


def uninstall() -> None:
    """Put moto's own functions back (a benchmark compares the two; nothing else should)."""
    global _installed
    with _LOCK:
        DynamoHandler.call_action = MOTO_CALL_ACTION  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = MOTO_TRANSACT_WRITE_ITEMS  # type: ignore[method-assign]
        Table.query = MOTO_QUERY  # type: ignore[method-assign]
        if not _ITEM_HAS_OWN_NEW and "__new__" in vars(Item):
            del Item.__new__
        _installed = False


def moto_version() -> str:
    """The installed moto's version."""
    return metadata.version("moto")


# --- 1. one request at a time -----------------------------------------------------------------------------------


def _serialised(call_action: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    def serialised_call_action(self: DynamoHandler) -> Any:
        with _LOCK:
            return call_action(self)

    serialised_call_action.__doc__ = "moto's DynamoHandler.call_action, one request at a time (tools/local_dynamodb)."
    return serialised_call_action


# --- 2. transactions with an undo log ---------------------------------------------------------------------------


class UndoLog:
    """The items a transaction changed, as they were before it, to put back if it is cancelled.

    Saves one copy per item the transaction writes (a transaction writes an item at most once: moto refuses two
    operations on one item), and where a table has a stream, how many records the stream held.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        self._streams: dict[int, tuple[Table, int]] = {}

    def save(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        """Remember the item at this key as it is now (a copy: an Update changes the live item in place)."""
        if table.stream_shard is not None and id(table) not in self._streams:
            self._streams[id(table)] = (table, len(table.stream_shard.items))
        self._items.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))

    def rollback(self) -> None:
        """Put every saved item back (remove the ones that did not exist), latest first, and drop the stream
        records written since."""
        for table, hash_key, range_key, item in reversed(self._items):
            if range_key is None:
                partition: dict[Any, Any] = table.items
                slot: DynamoType = hash_key
            else:
                partition = table.items[hash_key]
                slot = range_key
            if item is None:
                partition.pop(slot, None)
            else:
                partition[slot] = item
            if range_key is not None and not table.items[hash_key]:
                del table.items[hash_key]
        for table, length in self._streams.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]
        self._items.clear()
        self._streams.clear()


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's `DynamoDBBackend.transact_write_items` with an undo log in place of its copy of every table."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = UndoLog()
    try:
        errors = _write_in_order(self, transact_items, undo)
    except BaseException:
        undo.rollback()
        raise
    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)


def _write_in_order(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]], undo: UndoLog
) -> list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]]:
    """The loop of moto's transact_write_items, unchanged but for `undo.save` before each write:
    (code, message, item) per operation, (None, None, None) for those that succeeded."""
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = backend.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = backend.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                # get_item above found the table and parsed the key, so these cannot fail
                table = backend.get_table(table_name)
                undo.save(table, *backend.get_keys_value(table, key))

            if op_type == "Put":
                backend.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                backend.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                backend.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise  # undone by the caller, as moto restores its copies and re-raises
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))  # type: ignore[arg-type]
        except Exception as error:  # moto's own catch-all: the error becomes the operation's cancellation reason
            errors.append((type(error).__name__, str(error), original_item))  # type: ignore[arg-type]
    return errors


# --- 3. a table query reads its partition -----------------------------------------------------------------------


def partition_query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    """moto's Table.query, reading only what the query needs from `all_items()`.

    moto's query starts from `self.all_items()`: every item of the table, sorted by key (most of an index query's
    time at 40,000 items, in DynamoType comparisons). Here, for the duration of the call (under the request lock, so
    no other request sees it), `all_items` answers with
    - for a query of the table itself: the queried partition's items, in the same order (moto then keeps the items
      of that partition, in that order);
    - for a query of an index: every item, unsorted (moto then sorts the matches by index keys and table keys,
      unique to each item, so the first order never shows).
    """
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    found: list[Item]
    if index_name:
        found = [item for stored in self.items.values() for item in _items_of(self, stored)]
    elif hash_key is not None:
        stored = self.items.get(hash_key)  # .get: `items` is a defaultdict, and a read must not add a partition
        found = [] if stored is None else sorted(_items_of(self, stored), key=lambda item: item.range_key)
    else:
        return MOTO_QUERY(self, hash_key, *args, **kwargs)
    self.all_items = lambda: found  # type: ignore[method-assign]
    try:
        return MOTO_QUERY(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


def _items_of(table: Table, stored: Any) -> list[Item]:
    """The items of one entry of `table.items`: a partition's {range key: item}, or the item of a hash-only key."""
    return list(stored.values()) if table.range_key_attr else [stored]


# --- 4. items outside moto's instance tracker -------------------------------------------------------------------


def _untracked_item(cls: type[Item], *args: Any, **kwargs: Any) -> Item:
    """An Item, not appended to `Item.instances_tracked` (see the module's docstring, 4)."""
    return object.__new__(cls)
