"""The opt-out report: opt-outs and opt-ins per day or ISO week, by source, keyword, sender and campaign.

Kept as counters written with the events, so a report reads counters, never the history:

- **What counts.** An event counts once, when it is stored with the outcome `applied` and changed a suppression:
  an opt-out that suppressed a scope (any source: keyword, natural_language, carrier, manual, import, bounce) is one
  opt-out; an event that lifted one (a contact's START, UNSTOP or YES, an admin's lift, an import's reset, a reply
  that lifts a bounce) is one opt-in. Per event, not per scope: a START that lifts `all` and `sender:<n>` is one
  opt-in. Superseded, unchanged and duplicate events count nothing (a redelivered webhook is a duplicate: its
  transaction is refused whole, its counters with it).
- **When.** The UTC day of the event's carrier time (`occurred_at`); an import's rows count on the day it was asked.
- **Source.** An opt-out's source; for an opt-in, the source of what it lifted (as change events say it), so
  `keyword` opt-ins are STARTs that lifted a keyword opt-out.
- **Keyword.** What the contact texted (`Event.keyword`): the canonical keyword (STOP, BAJA, START, an account's
  own), or for an opt-out in other words the detector's reason class (`reason_class`: "asks to stop messaging").
  Events no text made (an admin's, an import's, a carrier's report) have none: they are the row whose key is null.
- **Sender.** The account's number the contact texted (`Event.sender`); null for admins' and imports' events.
- **Campaign.** A contact's own opt-out (keyword, natural_language, carrier) within `ATTRIBUTION_WINDOW` (7 days)
  after the number's latest campaign text counts for that campaign (`NumberState.last_campaign`, which the send
  path's claim keeps: only the latest campaign a number was texted in). The rate is those opt-outs over the texts
  the campaign sent in all (`OutboundLog.campaign_counts`: its counts are not kept per day), null when none were
  sent. Campaigns are listed from the counters: those with an attributed opt-out in the range.

Every `by` but `campaign` has rows that add up to `totals`.

`tally` says what one event adds; `NumberStore.commit` writes it in the event's own transaction (a counter item per
account, day and shard: `adapters/dynamodb/reports.py`). `opt_out_report` reads the range's counters (one Query,
however long the range) and shapes the rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import CONTACT_SOURCES, EventRecord, NumberState, Source

if TYPE_CHECKING:
    from chalicelib.domain.ports import OutboundLog, ReportCounters

#: An opt-out this long after the number's latest campaign text counts for that campaign.
ATTRIBUTION_WINDOW = timedelta(days=7)
#: The longest range a report covers, in days (`from` and `to` included).
MAX_DAYS = 366
#: The range when the caller gives none: the last 30 days, today included.
DEFAULT_DAYS = 30

Kind = Literal["opt_outs", "opt_ins"]
OPT_OUTS: Kind = "opt_outs"
OPT_INS: Kind = "opt_ins"
Dimension = Literal["source", "keyword", "sender", "campaign"]
By = Literal["day", "week", "source", "keyword", "sender", "campaign"]
#: Attribution to campaigns: the opt-outs the contact asked for, not an admin's, an import's or a bounce.
ATTRIBUTED_SOURCES = CONTACT_SOURCES
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


#: Counter names are short (`o`, `o#k#STOP`, `i#s#keyword`, `o#n#+14155550100`, `o#c#spring`): a day's shard holds
#: one attribute per source, keyword, sender and campaign it saw, and its size (names included) sets the write units of
#: every opt-out written to it (2 per KB in a transaction).
_KINDS: dict[Kind, str] = {"opt_outs": "o", "opt_ins": "i"}
_DIMENSIONS: dict[Dimension, str] = {"source": "s", "keyword": "k", "sender": "n", "campaign": "c"}


def counter_name(kind: Kind, dimension: Dimension | None = None, key: str = "") -> str:
    """A counter's name: `o` (opt-outs), `i` (opt-ins), or `o#k#STOP` (opt-outs by keyword STOP; the key last: it
    may hold any character); with a dimension and no key, the prefix of that dimension's counters."""
    return _KINDS[kind] if dimension is None else f"{_KINDS[kind]}#{_DIMENSIONS[dimension]}#{key}"


def reason_class(reason: str) -> str:
    """The detector's reason without the words it matched: 'asks to stop messaging: "stop texting"' -> 'asks to stop
    messaging' (a handful of classes to count by, not one per phrasing)."""
    return reason.partition(': "')[0]


@dataclass(frozen=True)
class Tally:
    """What one applied event adds to its account's counters of one day (every counter by 1)."""

    account_id: str
    #: The number whose event it is: the counters are sharded by it.
    phone: str
    day: date
    counters: tuple[str, ...]


def tally(state: NumberState, record: EventRecord) -> Tally | None:
    """What `record` adds to the report's counters; None when it counts nothing (see the module's docstring).

    `state` is the number's state the event is committed with: its `last_campaign` attributes the opt-out.
    """
    if record.outcome != "applied" or not record.changes:
        return None
    event = record.event
    suppressed = [change for change in record.changes if change.change == "suppressed"]
    kind: Kind = OPT_OUTS if suppressed else OPT_INS
    source = (suppressed or list(record.changes))[0].source
    counters = [counter_name(kind), counter_name(kind, "source", source.value)]
    if event.keyword:
        counters.append(counter_name(kind, "keyword", event.keyword))
    if event.sender:
        counters.append(counter_name(kind, "sender", event.sender))
    campaign = attributed_campaign(state, source, event.occurred_at) if kind == OPT_OUTS else None
    if campaign is not None:
        counters.append(counter_name(kind, "campaign", campaign))
    return Tally(event.account_id, event.phone, utc_day(event.occurred_at), tuple(counters))


def attributed_campaign(state: NumberState, source: Source, at: datetime) -> str | None:
    """The campaign an opt-out of `source` at `at` counts for: the number's latest campaign, texted at most
    ATTRIBUTION_WINDOW before; None otherwise."""
    last = state.last_campaign
    if last is None or source not in ATTRIBUTED_SOURCES:
        return None
    return last.campaign_id if timedelta(0) <= at - last.sent_at <= ATTRIBUTION_WINDOW else None


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


# --- the report ------------------------------------------------------------------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PeriodRow(_Row):
    """A day (`2026-11-22`) or an ISO week starting Monday (`2026-W48`)."""

    period: str
    opt_outs: int
    opt_ins: int
    by_source: dict[str, int] = Field(description="the period's opt-outs by source (sources with none left out)")


class KeyRow(_Row):
    """One source, keyword or sender; `key` null: the events without one (admins', imports', carriers' reports)."""

    key: str | None
    opt_outs: int
    opt_ins: int


class CampaignRow(_Row):
    key: str = Field(description="the campaign id")
    sent: int = Field(description="texts the campaign sent, in all")
    opt_outs: int = Field(description="contacts' own opt-outs in the range within 7 days after a text of it")
    opt_out_rate: float | None = Field(description="opt_outs / sent, to 4 decimals; null when nothing was sent")


class Totals(_Row):
    opt_outs: int
    opt_ins: int


class OptOutReport(_Row):
    """The report of one account over `from`..`to` (UTC days, both included)."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True, validate_by_name=True)

    account_id: str
    from_: date = Field(alias="from")
    to: date
    by: By
    rows: list[PeriodRow] | list[KeyRow] | list[CampaignRow]
    totals: Totals


def report_range(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The days a report covers: `first`..`last`, by default the DEFAULT_DAYS days up to today (or up to `last`, or
    from `first`); InvalidRequest when `first` is after `last` or the range is over MAX_DAYS days."""
    if last is None:
        last = min(today, _shift(first, DEFAULT_DAYS - 1)) if first is not None else today
    if first is None:
        first = _shift(last, 1 - DEFAULT_DAYS)
    if first > last:
        raise InvalidRequest(f"from ({first}) is after to ({last})", field="from")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidRequest(
            f"the range covers {days} days: at most {MAX_DAYS} (from and to included)", field="to", days=days
        )
    return first, last


def _shift(day: date, days: int) -> date:
    """`day` moved by `days`, held within the calendar (year 1 to 9999)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def parse_day(raw: object) -> object:
    """A query's date: exactly YYYY-MM-DD (no timestamps, no other forms), a real day."""
    if isinstance(raw, str):
        if not _DATE.fullmatch(raw):
            raise ValueError("must be a date as YYYY-MM-DD")
        return date.fromisoformat(raw)
    return raw


def opt_out_report(
    counters: ReportCounters, outbound: OutboundLog, account_id: str, first: date, last: date, by: By
) -> OptOutReport:
    """The account's report over `first`..`last` by `by`: one read of the range's counters, and for `by=campaign`
    one read of each listed campaign's send counts."""
    daily = counters.daily_counts(account_id, first, last)
    whole: Counter[str] = Counter()
    for counts in daily.values():
        whole.update(counts)
    totals = Totals(opt_outs=whole[counter_name(OPT_OUTS)], opt_ins=whole[counter_name(OPT_INS)])
    rows: list[PeriodRow] | list[KeyRow] | list[CampaignRow]
    if by in ("day", "week"):
        rows = _period_rows(daily, first, last, weekly=by == "week")
    elif by == "campaign":
        rows = _campaign_rows(whole, outbound, account_id)
    else:
        rows = _key_rows(whole, cast(Dimension, by))
    return OptOutReport(account_id=account_id, from_=first, to=last, by=by, rows=rows, totals=totals)


def _period(day: date, weekly: bool) -> str:
    if not weekly:
        return day.isoformat()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _period_rows(daily: Mapping[date, Mapping[str, int]], first: date, last: date, *, weekly: bool) -> list[PeriodRow]:
    """Every period of the range, in order, those with nothing included (a chart needs its zeros)."""
    periods: dict[str, Counter[str]] = {}
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        periods.setdefault(_period(day, weekly), Counter()).update(daily.get(day, {}))
    prefix = counter_name(OPT_OUTS, "source")
    return [
        PeriodRow(
            period=period,
            opt_outs=counts[counter_name(OPT_OUTS)],
            opt_ins=counts[counter_name(OPT_INS)],
            by_source={name.removeprefix(prefix): n for name, n in sorted(counts.items()) if name.startswith(prefix)},
        )
        for period, counts in periods.items()
    ]


def _keyed(whole: Mapping[str, int], kind: Kind, dimension: Dimension) -> dict[str, int]:
    prefix = counter_name(kind, dimension)
    return {name.removeprefix(prefix): n for name, n in whole.items() if name.startswith(prefix) and n}


def _key_rows(whole: Mapping[str, int], dimension: Dimension) -> list[KeyRow]:
    """A row per key with any count, most opt-outs first; and the events without a key as the row whose key is null."""
    outs, ins = _keyed(whole, OPT_OUTS, dimension), _keyed(whole, OPT_INS, dimension)
    rows = [KeyRow(key=key, opt_outs=outs.get(key, 0), opt_ins=ins.get(key, 0)) for key in outs.keys() | ins.keys()]
    rows.sort(key=lambda row: (-row.opt_outs, -row.opt_ins, row.key or ""))
    rest_outs = whole.get(counter_name(OPT_OUTS), 0) - sum(outs.values())
    rest_ins = whole.get(counter_name(OPT_INS), 0) - sum(ins.values())
    if rest_outs or rest_ins:
        rows.append(KeyRow(key=None, opt_outs=rest_outs, opt_ins=rest_ins))
    return rows


def _campaign_rows(whole: Mapping[str, int], outbound: OutboundLog, account_id: str) -> list[CampaignRow]:
    rows = []
    for campaign, opt_outs in _keyed(whole, OPT_OUTS, "campaign").items():
        sent = outbound.campaign_counts(account_id, campaign).get("sent", 0)
        rate = round(opt_outs / sent, 4) if sent else None
        rows.append(CampaignRow(key=campaign, sent=sent, opt_outs=opt_outs, opt_out_rate=rate))
    rows.sort(key=lambda row: (-row.opt_outs, row.key))
    return rows
