"""AccountStore: the same cases on the fake and on DynamoDB."""

from __future__ import annotations

from chalicelib.domain.models import Account
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0


def test_accounts_round_trip(stores: Stores) -> None:
    account = Account(account_id=ACCOUNT, name="Acme", created_at=T0, updated_at=T0, token_hashes=("abc",))
    assert stores.accounts.get_account(ACCOUNT) is None
    stores.accounts.put_account(account)
    assert stores.accounts.get_account(ACCOUNT) == account


def test_putting_an_account_again_replaces_it(stores: Stores) -> None:
    account = Account(account_id=ACCOUNT, name="Acme", created_at=T0, updated_at=T0, token_hashes=("abc",))
    stores.accounts.put_account(account)
    renamed = account.model_copy(update={"name": "Acme Inc", "token_hashes": ()})
    stores.accounts.put_account(renamed)
    assert stores.accounts.get_account(ACCOUNT) == renamed
    assert stores.accounts.get_account("other") is None
