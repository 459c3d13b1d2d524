"""A bare Chalice app to compare cold starts with: one route, one boto3 DynamoDB client, one GetItem.

It answers the same request as the real Twilio webhook (same path, same event), so the difference between the two
cold starts is what our own code and its dependencies (pydantic, phonenumbers, Powertools, its other clients) cost.
"""

import os

import boto3
from chalice import Chalice, Response

app = Chalice(app_name="optout-baseline")

_dynamodb = None


@app.route("/webhooks/{carrier}/{account_id}", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
def twilio_inbound(carrier: str, account_id: str) -> Response:
    """Read the account's item and answer with empty TwiML (404 when there is no such account)."""
    global _dynamodb
    if _dynamodb is None:
        _dynamodb = boto3.client("dynamodb")
    response = _dynamodb.get_item(
        TableName=os.environ.get("OPTOUT_TABLE_NAME", "optout"),
        Key={"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "ACCOUNT"}},
        ConsistentRead=True,
    )
    found = "Item" in response
    return Response(
        body='<?xml version="1.0" encoding="UTF-8"?><Response/>',
        status_code=200 if found else 404,
        headers={"Content-Type": "text/xml"},
    )
