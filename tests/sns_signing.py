"""Signing the way Amazon SNS signs (a self-signed certificate stands in for AWS's), shared by the SNS tests.

The string to sign is written out here from AWS's documentation, independently of chalicelib's.
"""

from __future__ import annotations

import base64
import ipaddress
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from chalicelib.adapters.carriers import sns


def make_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(
    key: rsa.RSAPrivateKey, *, not_before: datetime, not_after: datetime, ip: str | None = None
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip or "sns.amazonaws.com")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# The signed keys per AWS's "Verifying the signatures of Amazon SNS messages", written out here on purpose.
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def sign(fields: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1") -> dict[str, Any]:
    """`fields` with SignatureVersion and Signature set as SNS sets them."""
    text = "".join(f"{name}\n{fields[name]}\n" for name in SIGNED_KEYS[fields["Type"]] if name in fields)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm)
    return {**fields, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode("ascii")}


class FakeFetch:
    """Serves the documents it was given and records every URL asked for; anything else is a 404."""

    def __init__(self, documents: dict[str, bytes] | None = None, failure: sns.FetchFailed | None = None) -> None:
        self.documents = dict(documents or {})
        self.failure = failure
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if self.failure is not None:
            raise self.failure
        if url not in self.documents:
            raise sns.FetchFailed("HTTP 404", transient=False)
        return self.documents[url]
