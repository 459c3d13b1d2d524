"""E.164 normalisation (DESIGN rule 1): the phone number is the subject, not the contact."""

from __future__ import annotations

import phonenumbers

from chalicelib.domain.errors import InvalidPhone

MAX_INPUT_LENGTH = 64


def to_e164(raw: str, default_region: str = "US") -> str:
    """Return `raw` as E.164; national formats are read in `default_region`.

    Raises InvalidPhone when the text is not a valid phone number.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhone("phone number is empty or too long", phone=str(raw)[:MAX_INPUT_LENGTH])
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhone(f"not a phone number: {error}", phone=text) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid phone number", phone=text)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_valid_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
