"""The carriers the service speaks to, by name: adding one is a module under this package and one line here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.errors import UnknownCarrier
from chalicelib.domain.ports import Carrier, Credentials, SmsProvider

#: The provider `make run` sends through: it records texts instead of sending them.
LOCAL = "local"


class CarrierRegistry:
    """Carriers by name, and the SMS providers an account's `sms_provider` may name (the carriers and `local`)."""

    def __init__(self, carriers: Iterable[Carrier], local: SmsProvider | None = None) -> None:
        self._carriers = {carrier.name: carrier for carrier in carriers}
        self._local = local

    def get(self, name: str) -> Carrier:
        """The carrier called `name`; UnknownCarrier (a 404 on its webhook paths) when there is none."""
        carrier = self._carriers.get(name)
        if carrier is None:
            raise UnknownCarrier(f"there is no carrier {name!r}", carrier=name, known=sorted(self._carriers))
        return carrier

    def credentials_form(self, carrier: str) -> type[BaseModel] | None:
        known = self._carriers.get(carrier)
        return known.credentials_form if known is not None else None

    def provider_names(self) -> frozenset[str]:
        return frozenset(self._carriers) | ({LOCAL} if self._local is not None else set())

    def provider(self, name: str, credentials: Credentials) -> SmsProvider:
        """The SmsProvider for `name` with an account's credentials (CarrierNotConfigured when they lack some)."""
        if name == LOCAL and self._local is not None:
            return self._local
        return self.get(name).provider(credentials)


def carriers(
    *,
    client: Callable[[str], Any],
    sms_configuration_set: str | None,
    http_timeout: float,
    api_urls: Mapping[str, str] | None = None,
) -> list[Carrier]:
    """Every carrier, built with what it needs from the composition root (`client(service)`: a boto3 client;
    `api_urls`: a carrier's REST API by carrier name, where it is not the carrier's own, e.g. a loopback server)."""
    from chalicelib.adapters.carriers.aws import AwsCarrier
    from chalicelib.adapters.carriers.bandwidth import BandwidthCarrier
    from chalicelib.adapters.carriers.plivo import PlivoCarrier
    from chalicelib.adapters.carriers.telnyx import TelnyxCarrier
    from chalicelib.adapters.carriers.twilio import TwilioCarrier
    from chalicelib.adapters.carriers.vonage import VonageCarrier

    urls = dict(api_urls or {})

    def api(name: str) -> dict[str, Any]:
        return {"api_url": urls[name], "timeout": http_timeout} if name in urls else {"timeout": http_timeout}

    return [
        TwilioCarrier(**api("twilio")),
        AwsCarrier(sms_client=lambda: client("pinpoint-sms-voice-v2"), configuration_set=sms_configuration_set),
        # Vonage resends an unanswered webhook for 24 hours, possibly with the first attempt's signed timestamp:
        # a tighter window would refuse a STOP after an outage. A replay is harmless (events are idempotent).
        VonageCarrier(**api("vonage"), timestamp_tolerance=timedelta(hours=25)),
        TelnyxCarrier(**api("telnyx")),
        PlivoCarrier(**api("plivo")),
        BandwidthCarrier(**api("bandwidth")),
    ]
