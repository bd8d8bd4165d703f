"""DynamoDB's TransactWriteItems in moto, all or nothing and isolated, as DynamoDB runs it.

moto 5.2.5 runs a transaction on copies of the tables it touches and, when one item is cancelled, puts
the copies back: a write another request made meanwhile is lost, and two transactions can both pass
the same condition. `install()` makes a transaction check every item's condition before it writes
anything, under one lock that every single-item write takes too. The local stack's moto and the
integration tests' install it (tests/integration/test_moto_transactions.py shows what it fixes).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()
_SINGLE_WRITES = ("put_item", "update_item", "delete_item")
_OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")
_NO_FAILURE = (None, None, None)


def install() -> None:
    if getattr(DynamoDBBackend, "_warmline_isolated", False):
        return
    for name in _SINGLE_WRITES:
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _transact_write_items
    DynamoDBBackend._warmline_isolated = True


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def locked(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(self, *args, **kwargs)

    return locked


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        operations = [_operation(item) for item in transact_items]
        keys = [_key(self, op_type, op) for op_type, op in operations]
        touched = {
            (op["TableName"], str(sorted(key.items()))) for (_, op), key in zip(operations, keys, strict=True)
        }
        if len(touched) < len(operations):
            raise MultipleTransactionsException()
        failures = [_failure(self, op, key) for (_, op), key in zip(operations, keys, strict=True)]
        if any(code is not None for code, _, _ in failures):
            raise TransactionCanceledException(failures)
        for (op_type, op), key in zip(operations, keys, strict=True):
            _apply(self, op_type, op, key)


def _operation(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if len(item) != 1:
        raise TransactWriteSingleOpException()
    op_type, op = next(iter(item.items()))
    if op_type not in _OPERATIONS:
        raise ValueError("Unsupported transaction operation")
    return op_type, op


def _key(self: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    table = self.get_table(op["TableName"])
    names = [table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])]
    return {name: op["Item"][name] for name in names}


def _failure(self: DynamoDBBackend, op: dict[str, Any], key: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Why this item would cancel the transaction, as moto reports it; `_NO_FAILURE` if it would not."""
    condition = op.get("ConditionExpression")
    if condition is None:
        return _NO_FAILURE
    current = self.get_item(op["TableName"], key)
    check = get_filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    if check.expr(current):
        return _NO_FAILURE
    wants_item = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current
    return (
        "ConditionalCheckFailed",
        "The conditional request failed",
        current.to_json()["Attributes"] if wants_item else None,
    )


def _apply(self: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    """Write one item whose condition holds (it is checked again, under the same lock)."""
    expression = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if op_type == "Put":
        self.put_item(op["TableName"], op["Item"], **expression)
    elif op_type == "Delete":
        self.delete_item(op["TableName"], key, **expression)
    elif op_type == "Update":
        self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"], **expression)
