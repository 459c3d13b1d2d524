"""The SSM secret store's cache: a secret is read once per max_age, a missing one each time, a put is seen at once."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.adapters.ssm_secrets import SsmSecretStore
from chalicelib.domain.errors import StoreUnavailable


class FakeSsm:
    """GetParameter and PutParameter over a dict, counting reads; `fail` makes the next read raise it."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.reads = 0
        self.fail: Exception | None = None

    def get_parameter(self, *, Name: str, WithDecryption: bool) -> dict:  # noqa: N803 (the SDK's names)
        assert WithDecryption
        self.reads += 1
        if self.fail is not None:
            raise self.fail
        if Name not in self.values:
            raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": Name}}, "GetParameter")
        return {"Parameter": {"Name": Name, "Value": self.values[Name]}}

    def put_parameter(self, *, Name: str, Value: str, Type: str, Overwrite: bool) -> None:  # noqa: N803
        assert Type == "SecureString" and Overwrite
        self.values[Name] = Value


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def store(ssm: FakeSsm, clock: Clock) -> SsmSecretStore:
    return SsmSecretStore(ssm, "/optout/", max_age=60, monotonic=clock)


def test_a_secret_is_read_once_per_max_age() -> None:
    ssm, clock = FakeSsm(), Clock()
    ssm.values["/optout/acme/twilio"] = "token-1"
    secrets = store(ssm, clock)

    assert secrets.get("acme/twilio") == "token-1"
    ssm.values["/optout/acme/twilio"] = "token-2"  # changed by another process
    clock.now += 59
    assert secrets.get("acme/twilio") == "token-1"
    assert ssm.reads == 1
    clock.now += 1
    assert secrets.get("acme/twilio") == "token-2"
    assert ssm.reads == 2


def test_a_missing_secret_is_none_and_read_again_next_time() -> None:
    ssm, clock = FakeSsm(), Clock()
    secrets = store(ssm, clock)

    assert secrets.get("acme/twilio") is None
    ssm.values["/optout/acme/twilio"] = "token-1"  # set by another process a moment later
    assert secrets.get("acme/twilio") == "token-1"
    assert ssm.reads == 2


def test_a_put_is_read_back_at_once() -> None:
    ssm, clock = FakeSsm(), Clock()
    ssm.values["/optout/acme/twilio"] = "old"
    secrets = store(ssm, clock)
    assert secrets.get("acme/twilio") == "old"

    secrets.put("acme/twilio", "new")

    assert ssm.values["/optout/acme/twilio"] == "new"
    assert secrets.get("acme/twilio") == "new"


@pytest.mark.parametrize(
    "failure",
    [
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetParameter"),
        EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com"),
    ],
)
def test_a_secret_that_cannot_be_read_is_a_store_unavailable_not_a_missing_secret(failure: Exception) -> None:
    ssm, clock = FakeSsm(), Clock()
    ssm.fail = failure

    with pytest.raises(StoreUnavailable):
        store(ssm, clock).get("acme/twilio")
