"""Carrier webhooks: verify the carrier's signature, parse its payload, call one service."""

from __future__ import annotations

import hmac
from urllib.parse import quote, urlencode

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import wiring
from chalicelib.adapters.carriers import twilio
from chalicelib.api.http import json_errors, path_param, read_body, require_content_type
from chalicelib.domain import services
from chalicelib.domain.accounts import twilio_auth_token_secret
from chalicelib.domain.errors import AccountNotFound, InvalidSignature
from chalicelib.domain.models import Account
from chalicelib.wiring import Dependencies, dependencies

webhooks = Blueprint(__name__)

FORM = "application/x-www-form-urlencoded"


def _verified_twilio_params(
    request: Request, account_id: str, deps: Dependencies
) -> tuple[Account, list[tuple[str, str]]]:
    """The account and the form fields of a request Twilio signed; 403 when it did not."""
    body = read_body(request, deps.settings.max_body_bytes)
    require_content_type(request, FORM)
    params = twilio.parse_form(body)
    account = deps.store.get_account(account_id)
    if account is None:
        raise AccountNotFound(f"no account {account_id}", account_id=account_id)
    auth_token = deps.secrets.get(twilio_auth_token_secret(account_id))
    if not auth_token:
        raise InvalidSignature("the account has no Twilio auth token to verify the signature with")
    urls = twilio.rebuild_url(
        public_base_url=deps.settings.public_base_url,
        headers={k.lower(): v for k, v in request.headers.items()},
        request_path=request.context.get("path", ""),
        query=_query_string(request),
    )
    if not twilio.is_valid_request(
        urls=urls, params=params, auth_token=auth_token, signature=request.headers.get("x-twilio-signature")
    ):
        raise InvalidSignature("the X-Twilio-Signature header does not match this request")
    expected_sid = account.carriers.twilio.account_sid
    sent_sid = twilio.account_sid_of(params)
    if expected_sid and sent_sid and not hmac.compare_digest(expected_sid, sent_sid):
        raise InvalidSignature("the request is for another Twilio account")
    return account, params


def _query_string(request: Request) -> str:
    """The query string as the carrier had it in the webhook URL (API Gateway hands it over parsed)."""
    if not request.query_params:
        return ""
    pairs = [(name, value) for name in request.query_params for value in request.query_params.getlist(name)]
    return urlencode(pairs, quote_via=quote)


@webhooks.route("/webhooks/twilio/{account_id}", methods=["POST"], content_types=["*/*"])
@json_errors
def twilio_inbound(account_id: str) -> Response:
    """An SMS to one of the account's numbers. The TwiML reply is sent only once it is stored."""
    deps = dependencies()
    account, params = _verified_twilio_params(webhooks.current_request, path_param(account_id), deps)
    message = twilio.parse_inbound(
        params, account_id=account.account_id, default_region=account.default_region, received_at=deps.clock.now()
    )
    result = services.receive_inbound(deps.store, account, message, wiring.alerts_queue())
    return Response(body=twilio.twiml(result.reply), status_code=200, headers={"Content-Type": "text/xml"})


@webhooks.route("/webhooks/twilio/{account_id}/status", methods=["POST"], content_types=["*/*"])
@json_errors
def twilio_status(account_id: str) -> Response:
    """A delivery-status callback: opted-out and unreachable numbers become suppressions."""
    deps = dependencies()
    account, params = _verified_twilio_params(webhooks.current_request, path_param(account_id), deps)
    report = twilio.parse_status(
        params, account_id=account.account_id, default_region=account.default_region, received_at=deps.clock.now()
    )
    source = twilio.error_source(report.error_code)
    services.receive_delivery_report(deps.store, account, report, source, wiring.alerts_queue())
    return Response(body="", status_code=204)
