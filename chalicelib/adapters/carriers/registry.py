"""The carriers the service speaks to, by name: adding one is a module under this package and its builder here.

The registry knows every carrier's name from the start but imports a carrier's module only when that carrier is
first used (a webhook on its path, an account's credentials checked against its form, a text sent through it): a
cold start pays for the carriers its requests name, not for all of them. `carriers()` gives each carrier as the
function that builds it; a registry may also be given carriers already built (tests do).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.errors import UnknownCarrier
from chalicelib.domain.ports import Carrier, Credentials, SmsProvider

#: The provider `make run` sends through: it records texts instead of sending them.
LOCAL = "local"

#: Builds one carrier, importing its module: the registry calls it once, when the carrier is first used.
CarrierFactory = Callable[[], Carrier]


class CarrierRegistry:
    """Carriers by name, and the SMS providers an account's `sms_provider` may name (the carriers and `local`).

    `carriers`: built carriers, or a mapping of each carrier's name to the function that builds it on first use.
    """

    def __init__(
        self, carriers: Iterable[Carrier] | Mapping[str, CarrierFactory], local: SmsProvider | None = None
    ) -> None:
        self._factories: dict[str, CarrierFactory] = {}
        self._built: dict[str, Carrier] = {}
        if isinstance(carriers, Mapping):
            self._factories.update(carriers)
        else:
            self._built.update((carrier.name, carrier) for carrier in carriers)
        self._names = frozenset(self._factories) | frozenset(self._built)
        self._local = local
        self._lock = threading.Lock()

    def get(self, name: str) -> Carrier:
        """The carrier called `name`; UnknownCarrier (a 404 on its webhook paths) when there is none."""
        carrier = self._carrier(name)
        if carrier is None:
            raise UnknownCarrier(f"there is no carrier {name!r}", carrier=name, known=sorted(self._names))
        return carrier

    def credentials_form(self, carrier: str) -> type[BaseModel] | None:
        known = self._carrier(carrier)
        return known.credentials_form if known is not None else None

    def provider_names(self) -> frozenset[str]:
        return self._names | ({LOCAL} if self._local is not None else set())

    def provider(self, name: str, credentials: Credentials) -> SmsProvider:
        """The SmsProvider for `name` with an account's credentials (CarrierNotConfigured when they lack some)."""
        if name == LOCAL and self._local is not None:
            return self._local
        return self.get(name).provider(credentials)

    def _carrier(self, name: str) -> Carrier | None:
        """The carrier called `name`, built (its module imported) on first use; None when there is none."""
        carrier = self._built.get(name)
        if carrier is not None or name not in self._factories:
            return carrier
        with self._lock:  # one instance per carrier, even when two threads ask first at once
            carrier = self._built.get(name)
            if carrier is None:
                carrier = self._factories[name]()
                if carrier.name != name:
                    raise RuntimeError(f"the registry's {name!r} built the carrier {carrier.name!r}")
                self._built[name] = carrier
        return carrier


def carriers(
    *,
    client: Callable[[str], Any],
    sms_configuration_set: str | None,
    http_timeout: float,
    api_urls: Mapping[str, str] | None = None,
) -> dict[str, CarrierFactory]:
    """Every carrier by name, as the function that builds it (importing its module) with what it needs from the
    composition root (`client(service)`: a boto3 client; `api_urls`: a carrier's REST API by carrier name, where it
    is not the carrier's own, e.g. a loopback server). Give the result to `CarrierRegistry`."""
    urls = dict(api_urls or {})

    def api(name: str) -> dict[str, Any]:
        return {"api_url": urls[name], "timeout": http_timeout} if name in urls else {"timeout": http_timeout}

    def twilio() -> Carrier:
        from chalicelib.adapters.carriers.twilio import TwilioCarrier

        return TwilioCarrier(**api("twilio"))

    def aws() -> Carrier:
        from chalicelib.adapters.carriers.aws import AwsCarrier

        return AwsCarrier(sms_client=lambda: client("pinpoint-sms-voice-v2"), configuration_set=sms_configuration_set)

    def vonage() -> Carrier:
        from chalicelib.adapters.carriers.vonage import VonageCarrier

        # Vonage resends an unanswered webhook for 24 hours, possibly with the first attempt's signed timestamp:
        # a tighter window would refuse a STOP after an outage. A replay is harmless (events are idempotent).
        return VonageCarrier(**api("vonage"), timestamp_tolerance=timedelta(hours=25))

    def telnyx() -> Carrier:
        from chalicelib.adapters.carriers.telnyx import TelnyxCarrier

        return TelnyxCarrier(**api("telnyx"))

    def plivo() -> Carrier:
        from chalicelib.adapters.carriers.plivo import PlivoCarrier

        return PlivoCarrier(**api("plivo"))

    def bandwidth() -> Carrier:
        from chalicelib.adapters.carriers.bandwidth import BandwidthCarrier

        return BandwidthCarrier(**api("bandwidth"))

    return {"twilio": twilio, "aws": aws, "vonage": vonage, "telnyx": telnyx, "plivo": plivo, "bandwidth": bandwidth}
