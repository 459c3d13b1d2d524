"""The opt-out report's counters, on the fake and on DynamoDB: written with the events, each applied change once, and
a campaign's report matching its history events counted one by one."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from chalicelib import wiring
from chalicelib.adapters.dynamodb import dynamodb_stores
from chalicelib.adapters.dynamodb.numbers import DynamoDBNumberStore
from chalicelib.domain import policy, reports, services
from chalicelib.domain.accounts import AccountSettingsIn, upsert_account
from chalicelib.domain.errors import ConcurrentUpdate, DuplicateEvent
from chalicelib.domain.models import (
    CONTACT_SOURCES,
    Action,
    CampaignText,
    DeliveryReport,
    InboundMessage,
    Source,
)
from chalicelib.domain.ports import Stores
from chalicelib.settings import Settings
from chalicelib.workers import send as send_worker
from tests.containers import RecordingQueue, fake_container
from tests.fakes import FixedClock, RecordingSmsProvider
from tests.integration.contract.examples import ACCOUNT, PHONE, T0, commit, opt_in, opt_out, send_request
from tests.lambda_events import sqs_event

SENDER = "+14155550100"
DAY = T0.date()


def counts(stores: Stores, first: date = DAY, last: date = DAY) -> Counter[str]:
    assert stores.reports is not None
    total: Counter[str] = Counter()
    for day_counts in stores.reports.daily_counts(ACCOUNT, first, last).values():
        total.update(day_counts)
    return total


def test_an_applied_opt_out_counts_once_by_source_keyword_and_sender(stores: Stores) -> None:
    # Given a keyword opt-out texted to one of the account's numbers
    event = opt_out(PHONE, "twilio:SM1").model_copy(update={"keyword": "STOP", "sender": SENDER})
    state, _ = stores.numbers.load(ACCOUNT, PHONE)
    new_state, record = policy.apply(state, event)
    stores.numbers.commit(new_state, record)
    # Then it counts once under each of its dimensions
    assert counts(stores) == {
        "o": 1,
        "o#s#keyword": 1,
        "o#k#STOP": 1,
        f"o#n#{SENDER}": 1,
    }
    # And the same event again (a redelivered webhook) is refused whole: it adds nothing
    newer, _ = stores.numbers.load(ACCOUNT, PHONE)
    with pytest.raises(DuplicateEvent):
        stores.numbers.commit(newer, record)
    assert counts(stores)["o"] == 1


def test_superseded_and_unchanged_events_count_nothing_and_an_opt_in_counts_as_one(stores: Stores) -> None:
    # Given a STOP at 10:00, then a second STOP at 10:05 that changes nothing
    commit(stores, opt_out(PHONE, "e-1"))
    commit(stores, opt_out(PHONE, "e-2", at=T0 + timedelta(minutes=5)))
    # And a START at 10:10 (lifting `all`), then a STOP of 10:08 delivered late
    commit(stores, opt_in(PHONE, "e-3", T0 + timedelta(minutes=10)).model_copy(update={"keyword": "START"}))
    commit(stores, opt_out(PHONE, "e-4", at=T0 + timedelta(minutes=8)))
    # Then the counters hold one opt-out and one opt-in: the unchanged and the superseded events count nothing
    outcomes = {r.event.event_id: r.outcome for r in stores.history.history(ACCOUNT, PHONE)}
    assert outcomes == {"e-1": "applied", "e-2": "unchanged", "e-3": "applied", "e-4": "superseded"}
    assert counts(stores) == {
        "o": 1,
        "o#s#keyword": 1,
        "i": 1,
        # An opt-in's source is what it lifted
        "i#s#keyword": 1,
        "i#k#START": 1,
    }


def test_counters_are_read_by_utc_day_both_ends_of_the_range_included(stores: Stores) -> None:
    # Given opt-outs of many numbers (every shard of a day) on three days
    phones = [f"+1415555{n:04d}" for n in range(40)]
    for index, phone in enumerate(phones):
        commit(stores, opt_out(phone, f"e-{phone}", at=T0 + timedelta(days=index % 3)))
    assert stores.reports is not None
    # When the first two days are read
    daily = stores.reports.daily_counts(ACCOUNT, DAY, DAY + timedelta(days=1))
    # Then each day's shards are summed, and the third day is left out
    assert {day: c["o"] for day, c in daily.items()} == {DAY: 14, DAY + timedelta(days=1): 13}
    assert stores.reports.daily_counts(ACCOUNT, DAY + timedelta(days=2), DAY + timedelta(days=9)) == {
        DAY + timedelta(days=2): {"o": 13, "o#s#keyword": 13}
    }
    assert stores.reports.daily_counts("other", DAY, DAY + timedelta(days=2)) == {}


def test_the_last_campaign_is_kept_by_the_claim_and_survives_the_numbers_events(stores: Stores) -> None:
    # Given a campaign text claimed for a number, then a text of no campaign
    assert stores.numbers.claim_recipient(send_request("req-1", campaign_id="spring"), 0, T0)
    assert stores.numbers.claim_recipient(send_request("req-2", campaign_id=None), 0, T0 + timedelta(hours=1))
    # When an opt-out is committed for it
    commit(stores, opt_out(PHONE, "e-1", at=T0 + timedelta(hours=2)))
    # Then the number still reads its latest campaign text, and the opt-out counted for that campaign
    state, _ = stores.numbers.load(ACCOUNT, PHONE)
    assert state.version == 1 and state.last_campaign == CampaignText(campaign_id="spring", sent_at=T0)
    assert stores.numbers.load_many(ACCOUNT, [PHONE])[PHONE].last_campaign == state.last_campaign
    assert counts(stores)["o#c#spring"] == 1


# --- the campaign ----------------------------------------------------------------------------------------------


def text(message_id: str, phone: str, body: str, at: datetime) -> InboundMessage:
    return InboundMessage(
        carrier="twilio",
        message_id=message_id,
        account_id=ACCOUNT,
        from_phone=phone,
        to_phone=SENDER,
        body=body,
        occurred_at=at,
        received_at=at,
    )


def counted_one_by_one(stores: Stores, phones: list[str], texted: dict[str, tuple[str, datetime]]) -> dict:
    """The report's figures from the history, event by event: each applied change is one opt-out or one opt-in, by
    source (for an opt-in, what it lifted), keyword and sender; a contact's own opt-out within 7 days after the
    number's campaign text (`texted`: phone -> campaign, when) counts for that campaign."""
    figures: dict[str, Counter] = {name: Counter() for name in ("totals", "source", "keyword", "sender", "campaign")}
    for phone in phones:
        for record in stores.history.history(ACCOUNT, phone):
            if record.outcome != "applied" or not record.changes:
                continue
            event = record.event
            kind = "opt_outs" if event.action is Action.OPT_OUT else "opt_ins"
            figures["totals"][kind] += 1
            figures["source"][(record.changes[0].source.value, kind)] += 1
            figures["keyword"][(event.keyword, kind)] += 1
            figures["sender"][(event.sender, kind)] += 1
            campaign, sent_at = texted.get(phone, (None, event.occurred_at))
            within = timedelta(0) <= event.occurred_at - sent_at <= timedelta(days=7)
            if kind == "opt_outs" and event.source in CONTACT_SOURCES and campaign is not None and within:
                figures["campaign"][campaign] += 1
    return figures


def keyed(report: reports.OptOutReport) -> Counter:
    rows: Counter = Counter()
    for row in report.rows:
        assert isinstance(row, reports.KeyRow)
        rows[(row.key, "opt_outs")] += row.opt_outs
        rows[(row.key, "opt_ins")] += row.opt_ins
    return +rows


def test_a_campaigns_report_matches_its_history_events_counted_one_by_one(stores: Stores) -> None:
    # Given an account with a keyword of its own, sending through a recorder, and a campaign of 10 texts at T0
    clock = FixedClock(T0)
    provider = RecordingSmsProvider()
    parts = fake_container(Settings(), provider=provider, clock=clock, stores=stores, queue=RecordingQueue())
    try:
        settings = AccountSettingsIn(name="Acme", sms_provider="local", keywords={"opt_out": ["DESINSCRIBIR"]})
        account, _, _ = upsert_account(stores.accounts, parts.secrets, parts.carriers, ACCOUNT, settings, T0)
        spring = [f"+1415555{n:04d}" for n in range(100, 110)]
        requests = [
            {"request_id": f"spring:{p}", "account_id": ACCOUNT, "to": p, "sender": SENDER, "body": "Sale"}
            | {"campaign_id": "spring"}
            for p in spring
        ]
        assert send_worker.handle(sqs_event(*requests)) == {"batchItemFailures": []}
        assert len(provider.sent) == 10
        queue = parts.queue
        hour = timedelta(hours=1)

        # When its recipients answer, in several ways and from several sources
        for n, (phone, body) in enumerate(
            [(spring[0], "STOP"), (spring[1], "Baja"), (spring[2], "please stop texting me"), (spring[3], "STOP")]
            + [(spring[4], "desinscribir")]
        ):
            services.receive_inbound(stores, queue, account, text(f"SM{n}", phone, body, T0 + hour))
        # a redelivered STOP (the same message id): a duplicate
        services.receive_inbound(stores, queue, account, text("SM3", spring[3], "STOP", T0 + hour))
        # the carrier reports one opted out, another unreachable
        for phone, code, source in ((spring[5], "21610", Source.CARRIER), (spring[6], "30003", Source.BOUNCE)):
            report = DeliveryReport(
                carrier="twilio",
                message_id=f"fake-{phone}",
                account_id=ACCOUNT,
                to_phone=phone,
                from_phone=SENDER,
                status="undelivered",
                error_code=code,
                occurred_at=T0 + 2 * hour,
                received_at=T0 + 2 * hour,
            )
            services.receive_delivery_report(stores, queue, account, report, source)
        # an admin opts one out by hand, and lifts it the next day
        services.opt_out_manually(stores, queue, account, spring[7], "all", "asked by phone", "admin", T0 + hour)
        services.lift(stores, queue, account, spring[7], "all", None, "admin", T0 + 25 * hour)
        # one texts STOP 8 days later (too late for the campaign), and the first texts START
        services.receive_inbound(stores, queue, account, text("SM8", spring[8], "STOP", T0 + timedelta(days=8)))
        services.receive_inbound(stores, queue, account, text("SM9", spring[0], "START", T0 + 3 * hour))
        # a number no campaign texted opts out too
        outsider = "+14155550999"
        services.receive_inbound(stores, queue, account, text("SM10", outsider, "unsubscribe me", T0 + hour))

        # Then every report matches the history events counted one by one
        first, last = DAY - timedelta(days=1), DAY + timedelta(days=10)
        texted = {phone: ("spring", T0) for phone in spring}
        expected = counted_one_by_one(stores, [*spring, outsider], texted)
        assert stores.reports is not None

        def report(by: reports.By) -> reports.OptOutReport:
            assert stores.reports is not None
            return reports.opt_out_report(stores.reports, stores.outbound, ACCOUNT, first, last, by)

        totals = report("day").totals
        assert (totals.opt_outs, totals.opt_ins) == (expected["totals"]["opt_outs"], expected["totals"]["opt_ins"])
        assert (totals.opt_outs, totals.opt_ins) == (10, 2)
        for by in ("source", "keyword", "sender"):
            assert keyed(report(by)) == +expected[by], by  # type: ignore[arg-type]
        by_keyword = keyed(report("keyword"))
        assert by_keyword[("STOP", "opt_outs")] == 3  # the redelivered STOP did not count
        assert by_keyword[("UNSUBSCRIBE", "opt_outs")] == 1  # a keyword in a short request: natural_language
        assert by_keyword[("DESINSCRIBIR", "opt_outs")] == 1
        assert by_keyword[(None, "opt_outs")] == 3  # the carrier's, the bounce and the admin's
        assert by_keyword[("BAJA", "opt_outs")] == 1
        assert by_keyword[("asks to stop messaging", "opt_outs")] == 1
        campaign = report("campaign")
        assert [row.model_dump() for row in campaign.rows] == [
            {"key": "spring", "sent": 10, "opt_outs": expected["campaign"]["spring"], "opt_out_rate": 0.6}
        ]
        day_rows = {row.period: row for row in report("day").rows}  # type: ignore[union-attr]
        assert len(day_rows) == 12
        assert day_rows[DAY.isoformat()].opt_outs == 9
        assert day_rows[DAY.isoformat()].by_source == {
            "bounce": 1,
            "carrier": 1,
            "keyword": 4,
            "manual": 1,
            "natural_language": 2,
        }
        assert (day_rows[(DAY + timedelta(days=1)).isoformat()].opt_ins, day_rows[DAY.isoformat()].opt_ins) == (1, 1)
        weeks = report("week").rows
        assert sum(row.opt_outs for row in weeks) == 10  # type: ignore[union-attr]
    finally:
        wiring.use(None)


# --- a transaction that meets another on the counters ----------------------------------------------------------


class ConflictingClient:
    """A DynamoDB client whose next `conflicts` transactions DynamoDB cancels as meeting another transaction on
    their last item (the report counters'): `TransactionConflict`, nothing written."""

    def __init__(self, client, conflicts: int) -> None:
        self._client = client
        self.conflicts = conflicts

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs):
        if self.conflicts:
            self.conflicts -= 1
            reasons = [{"Code": "None"}] * (len(kwargs["TransactItems"]) - 1) + [{"Code": "TransactionConflict"}]
            error = {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": reasons,
            }
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
        return self._client.transact_write_items(**kwargs)


def test_a_transaction_conflict_on_the_counters_is_retried_never_lost_nor_counted_twice(table) -> None:
    client, table_name = table
    conflicting = ConflictingClient(client, conflicts=2)
    stores = dynamodb_stores(client, table_name)
    stores = replace(stores, numbers=DynamoDBNumberStore(conflicting, table_name))
    event = opt_out(PHONE, "twilio:SM1").model_copy(update={"keyword": "STOP"})
    # A conflict is a ConcurrentUpdate: nothing of the transaction is written
    state, _ = stores.numbers.load(ACCOUNT, PHONE)
    with pytest.raises(ConcurrentUpdate):
        stores.numbers.commit(*policy.apply(state, event))
    assert stores.history.history(ACCOUNT, PHONE) == [] and counts(stores) == {}
    # And the use case reads the number again and retries: the opt-out is stored, and counted, once
    recorded = services.record_event(stores, RecordingQueue(), event)
    assert recorded.record is not None and recorded.state.suppressed
    assert conflicting.conflicts == 0
    assert [r.event.event_id for r in stores.history.history(ACCOUNT, PHONE)] == ["twilio:SM1"]
    assert counts(stores) == {"o": 1, "o#s#keyword": 1, "o#k#STOP": 1}
