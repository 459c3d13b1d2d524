"""Logger and Metrics, created once. (No Tracer: it costs ~0.4 s of cold start.)

Every log line is masked as it is written: phone numbers keep their last four digits and email addresses only their
domain, wherever they appear (a field, a reason, an exception's text). Message bodies are never logged at INFO.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

SERVICE = "sms-optout"
NAMESPACE = "SmsOptOut"

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# E.164 numbers, and the same digits URL-encoded (%2B) as they appear in paths.
_PHONE = re.compile(r"(\+|%2[Bb])\d{3,11}(\d{4})(?!\d)")


def mask(text: str) -> str:
    """`text` with every email address reduced to its domain and every phone number to its last four digits."""
    return _PHONE.sub(r"\1***\2", _EMAIL.sub(r"***@\1", text))


def _masked_json(record: dict[str, Any], default: Callable[[Any], Any] | None = None) -> str:
    return mask(json.dumps(record, default=default or str, separators=(",", ":"), ensure_ascii=False))


logger = Logger(service=SERVICE, json_serializer=_masked_json)


def count(name: str, **dimensions: str) -> None:
    """Add 1 to the CloudWatch metric `name` with these dimensions, written at once as an EMF log line."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension("service", SERVICE)
        for dimension, value in dimensions.items():
            metric.add_dimension(dimension, value)


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every kind of event: the Lambda context and a correlation id in each log line."""
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        logger.append_keys(function_request_id=request_id, function_name=getattr(context, "function_name", None))
        logger.set_correlation_id(request_id)
    return get_response(event)
