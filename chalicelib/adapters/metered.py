"""Stores that count what they stored: CloudWatch metrics for opt-outs, opt-ins and sends, counted only once a write
has succeeded. Decorators around the real stores, so the domain stays free of metrics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from chalicelib.domain.change_events import ChangeEventJob
from chalicelib.domain.models import (
    Contact,
    EventRecord,
    LoggedInbound,
    NotificationJob,
    NumberState,
    OutboundRecord,
    SendRequest,
)
from chalicelib.domain.ports import NumberStore, OutboundLog, SendOutcome
from chalicelib.observability import count


class MeteredNumberStore:
    """A NumberStore that counts each stored change: `Suppressed` and `Lifted`, by source."""

    def __init__(self, inner: NumberStore) -> None:
        self._inner = inner

    def commit(
        self,
        state: NumberState,
        record: EventRecord,
        inbound: LoggedInbound | None = None,
        job: NotificationJob | None = None,
        change_job: ChangeEventJob | None = None,
    ) -> None:
        self._inner.commit(state, record, inbound, job, change_job)
        for change in record.changes:
            count("Suppressed" if change.change == "suppressed" else "Lifted", source=change.source.value)

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        return self._inner.load(account_id, phone, event_id)

    def load_many(self, account_id: str, phones: Sequence[str]) -> dict[str, NumberState]:
        return self._inner.load_many(account_id, phones)

    def claim_recipient(
        self, request: SendRequest, expected_version: int, now: datetime, *, forget: Iterable[str] = ()
    ) -> bool:
        return self._inner.claim_recipient(request, expected_version, now, forget=forget)

    def release_recipient(self, request: SendRequest) -> None:
        self._inner.release_recipient(request)

    def contact(self, account_id: str, phone: str) -> Contact:
        return self._inner.contact(account_id, phone)

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        return self._inner.list_suppressed(account_id, cursor, limit)


class MeteredOutboundLog:
    """An OutboundLog that counts each recorded outcome: `Sends` by outcome (`sent`, `skipped:suppressed`, ...)."""

    def __init__(self, inner: OutboundLog) -> None:
        self._inner = inner

    def finish(self, record: OutboundRecord) -> bool:
        recorded = self._inner.finish(record)
        if recorded:
            count("Sends", outcome=record.counter)
        return recorded

    def release(self, record: OutboundRecord) -> None:
        self._inner.release(record)

    def count(self, account_id: str, campaign_id: str, counts: dict[str, int]) -> None:
        self._inner.count(account_id, campaign_id, counts)

    def get(self, account_id: str, request_id: str) -> OutboundRecord | None:
        return self._inner.get(account_id, request_id)

    def get_many(self, account_id: str, request_ids: Sequence[str]) -> dict[str, OutboundRecord]:
        return self._inner.get_many(account_id, request_ids)

    def campaign_counts(self, account_id: str, campaign_id: str) -> dict[str, int]:
        return self._inner.campaign_counts(account_id, campaign_id)

    def campaign_log(
        self,
        account_id: str,
        campaign_id: str,
        outcome: SendOutcome | None,
        reason: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[OutboundRecord], str | None]:
        return self._inner.campaign_log(account_id, campaign_id, outcome, reason, cursor, limit)
