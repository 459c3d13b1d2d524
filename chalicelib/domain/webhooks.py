"""A carrier's webhook request and our answer to it, as the carrier adapters see them (no Chalice here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class WebhookRequest:
    """One webhook call: what a carrier's signature can cover.

    `url` is the public URL the carrier called (what it signed), query string included; `headers` have
    lower-case names; `query` is the query string parsed, in order; `received_at` is when we received it (for
    schemes that sign a timestamp and refuse old ones).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    query: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class WebhookAnswer:
    status: int = 200
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
