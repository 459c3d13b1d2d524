"""Who may call an account's admin routes: the operator, or the account's own admin token (another account's is a
403, before anything of the account is read)."""

from __future__ import annotations

from chalice.app import Request

from chalicelib.api.http import path_param
from chalicelib.api.schemas import path_value
from chalicelib.domain import accounts
from chalicelib.domain.accounts import Principal
from chalicelib.domain.models import Account
from chalicelib.wiring import Container, container


def authorised(request: Request, account_id: str) -> tuple[Container, Principal, Account]:
    """The container, who asks, and the account the path names, once the request's token may act on it."""
    parts = container()
    principal, own = accounts.authenticate(
        request.headers.get("authorization"), parts.operator_token(), parts.stores.accounts
    )
    wanted = path_value("account_id", path_param(account_id))
    return parts, principal, accounts.authorise(principal, own, wanted, parts.stores.accounts)
