"""Logger and Metrics, created once. (No Tracer: it costs ~0.4 s of cold start.)

Every log line is masked as it is written: phone numbers keep their last four digits and email addresses only their
domain, wherever they appear (a field, a reason, an exception's text). Message bodies are never logged at INFO.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib import cold_start

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


#: Counts added up within `counts_added_up` (per thread and task), by metric name and dimensions.
_pending: ContextVar[Counter[tuple[str, tuple[tuple[str, str], ...]]] | None] = ContextVar("pending", default=None)


def count(name: str, **dimensions: str) -> None:
    """Add 1 to the CloudWatch metric `name` with these dimensions, written at once as an EMF log line (or, within
    `counts_added_up`, when it ends)."""
    pending = _pending.get()
    if pending is not None:
        pending[(name, tuple(dimensions.items()))] += 1
        return
    _emit(name, 1, dimensions)


@contextmanager
def counts_added_up() -> Iterator[None]:
    """Within it, `count` adds up: each metric is written once per set of dimensions at the end, with the sum (one
    EMF line per outcome for a batch of texts, rather than one per text)."""
    pending: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        for (name, dimensions), value in pending.items():
            _emit(name, value, dict(dimensions))


def _emit(name: str, value: int, dimensions: dict[str, str]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension("service", SERVICE)
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(dimension, dimension_value)


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every kind of event: the Lambda context and a correlation id in each log line."""
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        logger.append_keys(function_request_id=request_id, function_name=getattr(context, "function_name", None))
        logger.set_correlation_id(request_id)
    try:
        return get_response(event)
    finally:
        cold_start.end()
