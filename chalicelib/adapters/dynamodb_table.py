"""The single table's key schema, shared by the store, the local stack and the tests.

Items (pk / sk):
- `ACCOUNT#<account>` / `ACCOUNT`: an account's settings and token hashes.
- `NUMBER#<account>#<phone>` / `STATE`: a number's active suppressions and per-scope clock;
  carries `gsi1pk = SUPPRESSED#<account>`, `gsi1sk = <phone>` while anything is suppressed.
- `NUMBER#<account>#<phone>` / `EVENT#<event id>`: one history event (the key makes it idempotent).
- `INBOUND#<account>#<message id>` / `INBOUND`: one inbound message; `gsi1pk = INBOUND#<account>`,
  `gsi1sk = <received at>#<message id>` for the log newest first; while it awaits an admin's
  review, `gsi2pk = REVIEW#<account>`, `gsi2sk` likewise (a sparse index: the review queue).
"""

from __future__ import annotations

from typing import Any

GSI1 = "gsi1"
GSI2 = "gsi2"


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for DynamoDB CreateTable (on-demand billing)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": GSI2,
                "KeySchema": [
                    {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    }
