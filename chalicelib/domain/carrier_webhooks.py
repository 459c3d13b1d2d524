"""A carrier calls one of an account's webhooks: check who signed it, then store what it says, then answer.

The same 403 answers a request for an account that does not exist, one that has not configured this carrier,
and one whose signature is wrong, so a caller without credentials learns nothing about which accounts exist.
"""

from __future__ import annotations

from chalicelib.domain import services
from chalicelib.domain.accounts import carrier_credentials
from chalicelib.domain.errors import InvalidSignature
from chalicelib.domain.models import Account
from chalicelib.domain.ports import Carrier, CarrierNotice, SecretStore, SendQueue, Stores
from chalicelib.domain.webhooks import WebhookAnswer, WebhookRequest

NOT_SIGNED = "the request is not signed by this carrier for this account"


def verified_account(
    stores: Stores, secrets: SecretStore, carrier: Carrier, account_id: str, request: WebhookRequest
) -> Account:
    """The account the carrier signed `request` for; InvalidSignature (403) otherwise.

    The carrier checks the request even for an account that does not exist or has not configured it (with no
    credentials, so it fails), so every refusal takes the same path: a carrier that challenges a request without
    credentials (CredentialsRequired, a 401) challenges it whatever the account.
    """
    account = stores.accounts.get_account(account_id)
    credentials = carrier_credentials(account, carrier.name, secrets) if account is not None else None
    try:
        carrier.verify(request, credentials or {})
    except InvalidSignature as refused:
        # Which check failed is for our logs: the caller gets the same answer as for an unknown account.
        raise InvalidSignature(NOT_SIGNED, reason=f"{carrier.name}: {refused.message}") from None
    if account is None or credentials is None:
        raise InvalidSignature(NOT_SIGNED, reason=f"{carrier.name}: no account {account_id} with this carrier")
    return account


def receive_webhook(
    stores: Stores,
    queue: SendQueue,
    secrets: SecretStore,
    carrier: Carrier,
    account_id: str,
    request: WebhookRequest,
    *,
    status: bool,
) -> WebhookAnswer:
    """Verify, read and store one inbound-message (or, with `status`, delivery-status) webhook; the answer.

    Everything the request says is stored before this returns, so the answer acknowledges only what is stored.
    """
    account = verified_account(stores, secrets, carrier, account_id, request)
    read = carrier.read_status if status else carrier.read
    notice = read(
        request, account_id=account.account_id, default_region=account.default_region, received_at=request.received_at
    )
    return store_notice(stores, queue, carrier, account, notice, status=status)


def store_notice(
    stores: Stores, queue: SendQueue, carrier: Carrier, account: Account, notice: CarrierNotice, *, status: bool
) -> WebhookAnswer:
    """Apply the messages and reports of a verified notice; the carrier's answer (a reply only for one message)."""
    if notice.answer is not None:
        return notice.answer
    reply = None
    for message in notice.messages:
        result = services.receive_inbound(stores, queue, account, message, reply_in_answer=carrier.replies_in_answer)
        reply = result.reply if len(notice.messages) == 1 else None
    for report in notice.reports:
        services.receive_delivery_report(stores, queue, account, report, carrier.error_source(report.error_code))
    if status:
        return WebhookAnswer(204)
    return carrier.answer(reply)
