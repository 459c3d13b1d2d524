"""EmailLog: the same cases on the fake and on DynamoDB."""

from __future__ import annotations

import pytest

from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0

JOB = "opt_out:twilio:SM1"
OPS = "ops@example.com"


def test_an_email_is_claimed_once(stores: Stores) -> None:
    assert stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)
    assert not stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)


def test_the_same_job_to_another_recipient_or_another_job_to_the_same_recipient_is_another_email(
    stores: Stores,
) -> None:
    assert stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)
    assert stores.emails.claim_email(JOB, ACCOUNT, "compliance@example.com", T0)
    assert stores.emails.claim_email("opt_in:twilio:SM2", ACCOUNT, OPS, T0)
    assert stores.emails.claim_email(JOB, "other", OPS, T0)


def test_recipients_are_compared_without_case(stores: Stores) -> None:
    assert stores.emails.claim_email(JOB, ACCOUNT, "Ops@Example.COM", T0)
    assert not stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)


def test_a_sent_email_is_not_claimed_again(stores: Stores) -> None:
    stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)
    stores.emails.email_done(JOB, ACCOUNT, OPS, "sent", "ses-message-id")
    assert not stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)


@pytest.mark.parametrize("status", ["failed", "retrying"])
def test_a_failed_or_retrying_email_may_be_claimed_again_once(stores: Stores, status: str) -> None:
    # Given an email that did not go out
    stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)
    stores.emails.email_done(JOB, ACCOUNT, OPS, status, "throttled")
    # When it is claimed again, then that works once
    assert stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)
    assert not stores.emails.claim_email(JOB, ACCOUNT, OPS, T0)
