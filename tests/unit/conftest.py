"""The API's tests' common fixtures: the app on the in-memory fakes, its Chalice test client, an account's token.

A module overrides `deps` for another container (a fixed clock, a failing store) and `token` for another account;
`client` then runs the app on that container.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.settings import Settings
from tests.containers import fake_container
from tests.unit.test_api import BASE, OPERATOR, put_account


@pytest.fixture
def deps() -> Iterator[wiring.Container]:
    yield fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE))
    wiring.use(None)


@pytest.fixture
def client(deps: wiring.Container) -> Iterator[Client]:
    with Client(application.app) as test_client:
        yield test_client


@pytest.fixture
def token(client: Client) -> str:
    return str(put_account(client)["token"])
