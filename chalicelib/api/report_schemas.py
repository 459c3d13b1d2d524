"""What the report calls read and answer (`reports.py`): the query here, the answer the domain's `OptOutReport`
(`chalicelib/domain/reports.py`); the OpenAPI document is generated from them, as from `schemas.py`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BeforeValidator, Field

from chalicelib.api.schemas import Query
from chalicelib.domain.reports import DEFAULT_DAYS, MAX_DAYS, By, parse_day

#: A date in a query: YYYY-MM-DD only (a number or a timestamp is a 400, not a guess).
Day = Annotated[date, BeforeValidator(parse_day)]


class ReportQuery(Query):
    """`?from=&to=&by=`: UTC days, both included."""

    from_: Day | None = Field(
        default=None,
        alias="from",
        description=f"the first day, YYYY-MM-DD (UTC); default: {DEFAULT_DAYS} days before `to`",
    )
    to: Day | None = Field(
        default=None,
        description=(
            f"the last day, YYYY-MM-DD (UTC), included; default: today, or {DEFAULT_DAYS} days from `from` if sooner; "
            f"at most {MAX_DAYS} days from `from`"
        ),
    )
    by: By = Field(
        default="day",
        description="rows per `day` or ISO `week` (from Monday), or per `source`, `keyword`, `sender` or `campaign`",
    )
