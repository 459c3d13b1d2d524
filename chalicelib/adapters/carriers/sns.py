"""Amazon SNS messages to an HTTP(S) endpoint: read one, check where its certificate comes from, verify its signature.

Pure functions, plus `SigningCertificates` (a small cache around an injected `fetch(url) -> bytes`) and `https_get`,
the default fetcher. What AWS documents, and what its own validators do:

- The body is JSON: Type, MessageId, TopicArn, Message, Timestamp, SignatureVersion, Signature, SigningCertURL; a
  Notification may carry Subject; both confirmations carry SubscribeURL and Token
  (https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html, .../http-subscription-confirmation-json.html).
- The string to sign is "Key\\nValue\\n" for each signed key, in a fixed order: Message, MessageId, Subject (only if
  present), Timestamp, TopicArn, Type for a Notification; Message, MessageId, SubscribeURL, Timestamp, Token,
  TopicArn, Type for the confirmations. SignatureVersion "1" is SHA1withRSA, "2" is SHA256withRSA, both PKCS#1 v1.5
  (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
- The certificate must come over https from an SNS host: aws/aws-js-sns-message-validator and
  aws/aws-php-sns-message-validator accept hosts matching `^sns\\.[a-zA-Z0-9\\-]{3,}\\.amazonaws\\.com(\\.cn)?$` and
  a URL ending in `.pem`. We ask more: the middle label must be shaped like a region (`us-east-1`, `us-gov-west-1`,
  `cn-north-1`), which that pattern alone does not ensure (`sns.s3-us-west-2.amazonaws.com` is an S3 bucket's
  host), and the URL may hold nothing else: no user info, port, query or fragment.

The certificate is read with pyasn1 (its RFC 5280 definitions from pyasn1-modules) and the signature checked with
`rsa` (pure Python, PKCS#1 v1.5): 1.2 MB in place of a 16 MB library that would more than double the deployed bundle.
They cost about 20 ms to import, so they are imported when a signature is checked, not with this module: the direct
SNS -> Lambda path and the other carriers never pay for it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.client
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import InvalidSignature, StoreUnavailable

if TYPE_CHECKING:
    from rsa import PublicKey

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
MESSAGE_TYPES = frozenset({NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION})
#: "1": SHA1withRSA; "2": SHA256withRSA.
SIGNATURE_VERSIONS = frozenset({"1", "2"})
#: The digest each SignatureVersion signs with, as `rsa` names the one it finds in a PKCS#1 v1.5 signature.
_DIGESTS = {"1": "SHA-1", "2": "SHA-256"}
#: rsaEncryption (RFC 8017 A.1): the only key algorithm SNS signs with.
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
#: The header SNS names the message type in; it must agree with the body's Type.
MESSAGE_TYPE_HEADER = "x-amz-sns-message-type"

#: Signed keys, in the order AWS signs them; a Notification's Subject only when present.
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")

_REQUIRED_KEYS = (
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)
_CONFIRMATION_REQUIRED_KEYS = ("SubscribeURL", "Token")

_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]+"
_SNS_HOST = rf"sns\.{_REGION}\.amazonaws\.com(?:\.cn)?"
#: The whole certificate URL: https, an SNS host and nothing else before the path, a plain path ending in .pem.
_SIGNING_CERT_URL = re.compile(rf"https://{_SNS_HOST}/[A-Za-z0-9_./-]*\.pem")
#: Any URL on an SNS host (SubscribeURL): printable ASCII without spaces after the host's first slash.
_SNS_URL = re.compile(rf"https://{_SNS_HOST}(?:/[!-~]*)?")

FETCH_TIMEOUT_SECONDS = 5.0
#: An SNS certificate is under 2 KiB and a ConfirmSubscription answer well under 1 KiB.
MAX_FETCH_BYTES = 64 * 1024
_USER_AGENT = "sms-optout-service (SNS message verification)"


class FetchFailed(Exception):
    """An HTTPS GET got no usable answer; `transient` when trying again later may work (network, 429, 5xx)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


#: `fetch(url) -> bytes`: an HTTPS GET of the body, raising FetchFailed when there is none.
Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class SnsMessage:
    """One message SNS posted to an HTTP(S) subscription, as its JSON body says it (keys not listed are ignored)."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    signature_version: str
    signature: str
    signing_cert_url: str
    subject: str | None = None
    subscribe_url: str | None = None
    token: str | None = None

    def signed_fields(self) -> dict[str, str | None]:
        """The values SNS may sign, by key; None for a key this message does not have."""
        return {
            "Message": self.message,
            "MessageId": self.message_id,
            "Subject": self.subject,
            "SubscribeURL": self.subscribe_url,
            "Timestamp": self.timestamp,
            "Token": self.token,
            "TopicArn": self.topic_arn,
            "Type": self.type,
        }


def parse_message(body: bytes) -> SnsMessage:
    """Read an SNS HTTP(S) message body; InvalidSignature when it is not one.

    It must be a UTF-8 JSON object without repeated keys, with Type one of the three message types and every
    documented field a string (Subject optional; SubscribeURL and Token required in the confirmations). A
    refusal is InvalidSignature, not InvalidRequest: what is not an SNS message cannot be signed by SNS.
    """
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_refuse_repeated_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidSignature("the body is not an Amazon SNS message (not a JSON object)") from None
    if not isinstance(document, dict):
        raise InvalidSignature("the body is not an Amazon SNS message (not a JSON object)")
    message_type = document.get("Type")
    if message_type not in MESSAGE_TYPES:
        raise InvalidSignature("the SNS message's Type is none of " + ", ".join(sorted(MESSAGE_TYPES)))
    required = _REQUIRED_KEYS + (_CONFIRMATION_REQUIRED_KEYS if message_type != NOTIFICATION else ())
    missing = [key for key in required if not isinstance(document.get(key), str)]
    if missing:
        raise InvalidSignature(f"the SNS message lacks {', '.join(missing)}")
    subject = document.get("Subject")
    if subject is not None and not isinstance(subject, str):
        raise InvalidSignature("the SNS message's Subject is not a string")
    confirmation = message_type != NOTIFICATION
    return SnsMessage(
        type=message_type,
        message_id=document["MessageId"],
        topic_arn=document["TopicArn"],
        message=document["Message"],
        timestamp=document["Timestamp"],
        signature_version=document["SignatureVersion"],
        signature=document["Signature"],
        signing_cert_url=document["SigningCertURL"],
        # AWS documents Subject for notifications only, and signs it only there.
        subject=subject if not confirmation else None,
        subscribe_url=document["SubscribeURL"] if confirmation else None,
        token=document["Token"] if confirmation else None,
    )


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With a key twice, which value was signed is ambiguous; json.loads would silently keep the last.
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key appears more than once")
    return document


def string_to_sign(message: SnsMessage) -> bytes:
    """The bytes SNS signs: "Key\\nValue\\n" for each signed key of the message's type, in AWS's order."""
    keys = NOTIFICATION_KEYS if message.type == NOTIFICATION else CONFIRMATION_KEYS
    fields = message.signed_fields()
    lines = [f"{key}\n{fields[key]}\n" for key in keys if fields[key] is not None]
    return "".join(lines).encode("utf-8")


def is_signing_cert_url(url: str) -> bool:
    """True for an https URL of a `.pem` file on an SNS host (`sns.<region>.amazonaws.com[.cn]`), nothing more."""
    return _SIGNING_CERT_URL.fullmatch(url) is not None


def is_sns_url(url: str) -> bool:
    """True for an https URL on an SNS host, without user info, port, fragment, spaces or backslashes."""
    return _SNS_URL.fullmatch(url) is not None and "#" not in url and "\\" not in url


@dataclass(frozen=True)
class _SigningKey:
    key: PublicKey
    not_before: datetime
    not_after: datetime


class SigningCertificates:
    """SNS signing certificates by URL: each fetched once and kept parsed, at most `max_entries` (oldest out first).

    Only certificates that parse are kept; their validity period is checked at every use.
    """

    def __init__(self, fetch: Fetch, *, max_entries: int = 16) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._fetch = fetch
        self._max_entries = max_entries
        self._entries: dict[str, _SigningKey] = {}
        self._lock = threading.Lock()

    def public_key(self, url: str, now: datetime) -> PublicKey:
        """The RSA public key of the certificate at `url`, valid at `now`.

        InvalidSignature when the document is not an X.509 certificate with an RSA key, or is not valid at `now`;
        FetchFailed as `fetch` raised it.
        """
        entry = self._entries.get(url)
        if entry is None:
            entry = _signing_key(self._fetch(url))
            with self._lock:
                while len(self._entries) >= self._max_entries:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[url] = entry
        if not entry.not_before <= now <= entry.not_after:
            raise InvalidSignature("the SNS signing certificate is expired or not yet valid")
        return entry.key


def _signing_key(pem: bytes) -> _SigningKey:
    import rsa
    import rsa.pem
    from pyasn1.codec.der import decoder
    from pyasn1.error import PyAsn1Error
    from pyasn1_modules import rfc5280

    try:
        der = rsa.pem.load_pem(pem, "CERTIFICATE")
        certificate, rest = decoder.decode(der, asn1Spec=rfc5280.Certificate())
        if rest:
            raise ValueError("bytes after the certificate")
        signed = certificate["tbsCertificate"]
        key_info = signed["subjectPublicKeyInfo"]
        validity = signed["validity"]
        not_before, not_after = _utc(validity["notBefore"]), _utc(validity["notAfter"])
    except (ValueError, PyAsn1Error):
        raise InvalidSignature("the SNS signing certificate is not an X.509 certificate") from None
    if str(key_info["algorithm"]["algorithm"]) != _RSA_ENCRYPTION:
        raise InvalidSignature("the SNS signing certificate has no RSA key")
    try:
        key = rsa.PublicKey.load_pkcs1(key_info["subjectPublicKey"].asOctets(), "DER")
    except (ValueError, PyAsn1Error):
        raise InvalidSignature("the SNS signing certificate has no RSA key") from None
    return _SigningKey(key, not_before, not_after)


def _utc(time: Any) -> datetime:
    """An RFC 5280 Time (4.1.2.5): UTCTime YYMMDDHHMMSSZ, its years 1950 to 2049, or GeneralizedTime YYYYMMDDHHMMSSZ.
    ValueError for anything else."""
    text = str(time.getComponent())
    if time.getName() == "utcTime":
        moment = datetime.strptime(text, "%y%m%d%H%M%SZ")
        if moment.year >= 2050:  # strptime reads 50 to 68 as 2050 to 2068
            moment = moment.replace(year=moment.year - 100)
    else:
        moment = datetime.strptime(text, "%Y%m%d%H%M%SZ")
    return moment.replace(tzinfo=UTC)


def verify_message(message: SnsMessage, *, topic_arn: str, certificates: SigningCertificates, now: datetime) -> None:
    """Raise InvalidSignature unless SNS signed `message` for `topic_arn`.

    Every check that needs no network comes first (signature version, topic, certificate URL, SubscribeURL,
    signature encoding), so a message that fails one costs no fetch. A certificate that could not be fetched for
    a reason that may pass (network, throttling, 5xx) is StoreUnavailable instead, so that SNS delivers the message
    again: SNS retries a 5xx answer but drops a 4xx one.
    """
    if message.signature_version not in SIGNATURE_VERSIONS:
        raise InvalidSignature("the SNS SignatureVersion is not 1 or 2")
    if not hmac.compare_digest(message.topic_arn.encode("utf-8"), topic_arn.encode("utf-8")):
        raise InvalidSignature("the SNS message is for another topic than the account's")
    if not is_signing_cert_url(message.signing_cert_url):
        raise InvalidSignature("the SNS SigningCertURL is not an https .pem URL on an SNS host")
    if message.subscribe_url is not None and not is_sns_url(message.subscribe_url):
        raise InvalidSignature("the SNS SubscribeURL is not an https URL on an SNS host")
    try:
        signature = base64.b64decode(message.signature, validate=True)
    except binascii.Error:
        raise InvalidSignature("the SNS Signature is not base64") from None
    try:
        key = certificates.public_key(message.signing_cert_url, now)
    except FetchFailed as failure:
        if failure.transient:
            raise StoreUnavailable(f"could not fetch the SNS signing certificate: {failure}") from None
        raise InvalidSignature(f"could not fetch the SNS signing certificate: {failure}") from None
    if not _signature_matches(key, signature, string_to_sign(message), message.signature_version):
        raise InvalidSignature("the SNS Signature does not match the message")


def _signature_matches(key: PublicKey, signature: bytes, signed: bytes, version: str) -> bool:
    """Whether `signature` is the PKCS#1 v1.5 signature of `signed` by `key` with the digest `version` names (and no
    other: a SHA-1 signature under SignatureVersion "2" does not match)."""
    import rsa

    try:
        digest = rsa.verify(signed, signature, key)
    except (rsa.VerificationError, OverflowError, ValueError):
        return False
    return digest == _DIGESTS[version]


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # The URL was checked, not wherever a redirect leads: a 3xx stays an error (urllib raises HTTPError for it).
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def https_get(url: str, *, timeout: float = FETCH_TIMEOUT_SECONDS, max_bytes: int = MAX_FETCH_BYTES) -> bytes:
    """GET `url` over https (certificate checked, redirects refused) and return at most `max_bytes` of body.

    Raises FetchFailed: transient for no answer, a timeout, 429 or 5xx; permanent for another status or a body
    larger than `max_bytes`.
    """
    if not url.startswith("https://"):
        raise FetchFailed("only https URLs are fetched", transient=False)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        # Caught before URLError, its base class: an HTTP status is an answer.
        error.close()
        raise FetchFailed(f"HTTP {error.code}", transient=error.code == 429 or error.code >= 500) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise FetchFailed(f"{type(error).__name__}: {error}", transient=True) from None
    if len(body) > max_bytes:
        raise FetchFailed(f"the answer is larger than {max_bytes} bytes", transient=False)
    return body
