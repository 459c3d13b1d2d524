"""The interfaces the use cases need from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chalicelib.domain.models import Account, EventRecord, LoggedInbound, NumberState


class Page(Protocol):
    items: list
    cursor: str | None


class SuppressionStore(Protocol):
    """Accounts, number state, history and the inbound log."""

    def get_account(self, account_id: str) -> Account | None: ...

    def put_account(self, account: Account) -> None: ...

    def load(self, account_id: str, phone: str, event_id: str | None = None) -> tuple[NumberState, bool]:
        """The number's state, and whether `event_id` is already in its history: one round trip."""
        ...

    def load_many(self, account_id: str, phones: Sequence[str]) -> dict[str, NumberState]:
        """The state of each number; one round trip per 100 distinct numbers."""
        ...

    def commit(self, state: NumberState, record: EventRecord, inbound: LoggedInbound | None = None) -> None:
        """Write the new state and append `record` atomically.

        Conditional on the state still being at `state.version` (else ConcurrentUpdate) and on the
        event not being recorded yet (else DuplicateEvent). `inbound`, when given, is logged in the
        same transaction.
        """
        ...

    def history(self, account_id: str, phone: str) -> list[EventRecord]:
        """The number's events, newest first (by carrier time, then received time)."""
        ...

    def list_suppressed(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[NumberState], str | None]:
        """Numbers with at least one active suppression, by phone, a page at a time."""
        ...

    def log_inbound(self, inbound: LoggedInbound) -> bool:
        """Add a message to the inbound log; False when it was already there."""
        ...

    def get_inbound(self, account_id: str, message_id: str) -> LoggedInbound | None: ...

    def list_inbound(self, account_id: str, cursor: str | None, limit: int) -> tuple[list[LoggedInbound], str | None]:
        """The inbound log, newest first, a page at a time."""
        ...


class SecretStore(Protocol):
    """Carrier credentials, kept out of the table (SSM SecureString in AWS)."""

    def get(self, name: str) -> str | None: ...

    def put(self, name: str, value: str) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
