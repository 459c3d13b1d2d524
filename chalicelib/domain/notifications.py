"""Email alerts: what the business user and the contact are told, and how it is rendered.

Pure Python: templates, values and rendering. Sending is the Mailer's business (`adapters/ses_mailer.py`).

Four kinds of email:

- `opt_out`: to the user who last texted the number, when the number opts out.
- `opt_out_contact`: to the contact, confirming their opt-out and saying how to resubscribe.
- `opt_in`: to the user who last texted the number, when the number opts back in.
- `reply`: to the user who last texted the number, on any other inbound message, with the one call that
  unsubscribes the number from that message.

An account may override each kind's subject and text (`EmailTemplates`) with `string.Template` texts whose
`$placeholders` are the names in `PLACEHOLDERS`; unknown placeholders stay as written. The HTML body is always
built here from the rendered text, with everything in it HTML-escaped, so neither a template nor the contact's
words can put markup into an email.
"""

from __future__ import annotations

import html
import itertools
import re
from datetime import UTC, datetime
from string import Template
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from chalicelib.domain.models import Email

NotificationKind = Literal["opt_out", "opt_out_contact", "opt_in", "reply"]
KINDS: tuple[NotificationKind, ...] = get_args(NotificationKind)

MAX_SUBJECT_LENGTH = 200
MAX_TEMPLATE_TEXT_LENGTH = 5000


class _Frozen(BaseModel):
    """`models.Frozen`, repeated so that `models` may import this module (an Account holds its EmailTemplates)
    without an import cycle: nothing here imports `models` while the module loads."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --- values ----------------------------------------------------------------------------------


class NotificationValues(_Frozen):
    """What an email is about. The one place the values' names are defined (see PLACEHOLDERS)."""

    account_id: str
    account_name: str
    #: The contact's number, E.164.
    phone: str
    #: Carrier time of the opt-out, opt-in or message.
    when: datetime
    #: How the opt-out came about: a `Source` value, or `unsubscribe` (an admin, from one of the contact's messages).
    source: str | None = None
    #: The scopes concerned: `all`, `sender:<E.164>`, `group:<id>`.
    scopes: tuple[str, ...] = ()
    #: The contact's own words, when a message of theirs caused the email.
    message: str | None = None
    #: The inbound message's id (needed by `reply`: the unsubscribe call names it).
    message_id: str | None = None
    #: The account's number the contact texted, when known.
    sender: str | None = None
    #: The API's public base URL, e.g. `https://sms.example.com/prod`; None shows the unsubscribe path only.
    api_base: str | None = None
    #: The keyword that resubscribes the contact.
    resubscribe_keyword: str = "START"

    @field_validator("scopes", mode="before")
    @classmethod
    def _one_scope(cls, scopes: object) -> object:
        return (scopes,) if isinstance(scopes, str) else scopes


#: Every `$placeholder` a template may use, with what it becomes.
PLACEHOLDERS: dict[str, str] = {
    "account_id": "the account's id",
    "account_name": "the account's name",
    "phone": "the contact's number (E.164)",
    "when": "when it happened (carrier time, ISO 8601, UTC)",
    "source": "how the opt-out came about, as a code (keyword, natural_language, carrier, manual, import, ...)",
    "source_text": "how the opt-out came about, in words",
    "scope": "the scopes concerned, as codes (all, sender:+1..., group:...)",
    "scope_text": "the scopes concerned, in words",
    "message": "the contact's message, as they wrote it (empty when there is none)",
    "quoted_message": "the contact's message with each line quoted ('> '), or '(no message)'",
    "message_id": "the inbound message's id",
    "sender": "the account's number the contact texted (empty when unknown)",
    "api_base": "the API's base URL (empty when unknown)",
    "unsubscribe_path": "the path of the call that unsubscribes the number from the message",
    "unsubscribe_url": "the same call's full URL, or its path when the API's base URL is unknown",
    "unsubscribe_call": "a curl command for that call, or 'POST <path>' when the API's base URL is unknown",
    "resubscribe_keyword": "the keyword that resubscribes the contact (START)",
}

SOURCE_TEXTS: dict[str, str] = {
    "keyword": "they texted an opt-out keyword (such as STOP)",
    "natural_language": "they asked in their own words not to be texted",
    "carrier": "their carrier reported that they opted out",
    "manual": "an admin of the account added the suppression",
    "import": "the number was imported as opted out",
    "unsubscribe": "an admin unsubscribed the number from one of the contact's messages",
    "bounce": "texts to the number could not be delivered",
}

# --- templates -------------------------------------------------------------------------------


class TemplateOverride(_Frozen):
    """An account's own subject and/or text for one kind of email; None keeps the default."""

    subject: str | None = Field(default=None, min_length=1, max_length=MAX_SUBJECT_LENGTH)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEMPLATE_TEXT_LENGTH)


class EmailTemplates(_Frozen):
    """An account's overrides, per kind of email. `string.Template` texts: `$phone`, `${account_name}`, ..."""

    opt_out: TemplateOverride = TemplateOverride()
    opt_out_contact: TemplateOverride = TemplateOverride()
    opt_in: TemplateOverride = TemplateOverride()
    reply: TemplateOverride = TemplateOverride()


#: The defaults: plain, factual, no marketing. `$$` is a literal dollar sign.
DEFAULT_TEMPLATES: dict[NotificationKind, tuple[str, str]] = {
    "opt_out": (
        "$phone opted out of texts from $account_name",
        """\
$phone has opted out of texts from $account_name.

Number: $phone
When: $when
How: $source_text
Scope: $scope_text

Their message:
$quoted_message

Texts to this number in this scope are now blocked.

You get this email because you sent the latest text to $phone for $account_name.
""",
    ),
    "opt_out_contact": (
        "You will get no more texts from $account_name",
        """\
You will get no more texts from $account_name at $phone.

Opted out of: $scope_text

Changed your mind? Text $resubscribe_keyword to the number you opted out from.
""",
    ),
    "opt_in": (
        "$phone opted back in to texts from $account_name",
        """\
$phone has opted back in to texts from $account_name.

Number: $phone
When: $when
Scope: $scope_text

Their message:
$quoted_message

You get this email because you sent the latest text to $phone for $account_name.
""",
    ),
    "reply": (
        "Reply from $phone to $account_name",
        """\
$phone replied to a text from $account_name.

Number: $phone
When: $when

Their message:
$quoted_message

If this message asks you to stop texting them, unsubscribe the number from it with one call \
(with your account's API token):

    $unsubscribe_call

You get this email because you sent the latest text to $phone for $account_name.
""",
    ),
}


def unknown_placeholders(template: str) -> set[str]:
    """The `$names` in `template` that are not in PLACEHOLDERS (they would stay as written): for warnings."""
    return {name for name in Template(template).get_identifiers() if name not in PLACEHOLDERS}


def check_templates(templates: EmailTemplates) -> None:
    """ValueError, saying what, when an account's templates (as it sends them) name a placeholder there is not,
    or put a line break or control character in a subject (a header). Templates already stored are not checked
    again: rendering leaves unknown placeholders as written and makes a subject one line."""
    problems: list[str] = []
    for kind in KINDS:
        override: TemplateOverride = getattr(templates, kind)
        for part in ("subject", "text"):
            template: str | None = getattr(override, part)
            if template is None:
                continue
            unknown = unknown_placeholders(template)
            if unknown:
                names = ", ".join(f"${name}" for name in sorted(unknown))
                known = ", ".join(f"${name}" for name in PLACEHOLDERS)
                problems.append(f"{kind}.{part}: unknown placeholders {names} (known: {known})")
            if part == "subject" and _LINE_BREAKS.search(template):
                problems.append(f"{kind}.subject: a subject is one line, without control characters")
    if problems:
        raise ValueError("; ".join(problems))


# --- rendering -------------------------------------------------------------------------------

# C0 and C1 controls except tab and newline, and the bidirectional overrides and isolates (spoofing).
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Anything that could end a header line, plus tabs: subjects become one line.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]+")
_NEWLINES = re.compile(r"\r\n|[\r\u2028\u2029\x85]")
_SPACES = re.compile(r"[ \t\u00a0]+")


def clean_text(value: str) -> str:
    """`value` with every kind of line break made `\\n`, and other control and bidi-override characters removed."""
    return _UNSAFE_CHARS.sub("", _NEWLINES.sub("\n", value))


def one_line(value: str, max_length: int = MAX_SUBJECT_LENGTH) -> str:
    """A header-safe single line: no line breaks or control characters (header injection), spaces collapsed."""
    line = _SPACES.sub(" ", _UNSAFE_CHARS.sub("", _LINE_BREAKS.sub(" ", value))).strip()
    return line if len(line) <= max_length else line[: max_length - 1].rstrip() + "…"


def _iso(when: datetime) -> str:
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _scope_text(scope: str, account_name: str) -> str:
    kind, _, value = scope.partition(":")
    if scope == "all":
        return f"all texts from {account_name}"
    if kind == "sender":
        return f"texts from {account_name}'s number {value}"
    if kind == "group":
        return f'texts from {account_name} in the group "{value}"'
    return scope


def _quoted(message: str | None) -> str:
    if not message or not message.strip():
        return "(no message)"
    return "\n".join(f"> {line}".rstrip() for line in message.strip("\n").split("\n"))


def unsubscribe_path(account_id: str, message_id: str) -> str:
    """The path of the call that unsubscribes a number from one of its inbound messages."""
    return f"/v1/accounts/{quote(account_id, safe='')}/inbound/{quote(message_id, safe='')}/unsubscribe"


def placeholder_values(values: NotificationValues) -> dict[str, str]:
    """Every placeholder's text for `values` (cleaned of control characters), as PLACEHOLDERS lists them."""
    account_name = clean_text(values.account_name)
    message = clean_text(values.message) if values.message else ""
    path = unsubscribe_path(values.account_id, values.message_id) if values.message_id else ""
    api_base = (values.api_base or "").rstrip("/")
    url = f"{api_base}{path}" if path else ""
    if not path:
        call = ""
    elif api_base:
        call = f'curl -X POST -H "Authorization: Bearer <your API token>" {url}'
    else:
        call = f"POST {path}"
    source = values.source or ""
    rendered = {
        "account_id": values.account_id,
        "account_name": account_name,
        "phone": values.phone,
        "when": _iso(values.when),
        "source": source,
        "source_text": SOURCE_TEXTS.get(source, source or "not recorded"),
        "scope": ", ".join(values.scopes),
        "scope_text": "; ".join(_scope_text(scope, account_name) for scope in values.scopes)
        or f"texts from {account_name}",
        "message": message,
        "quoted_message": _quoted(message),
        "message_id": values.message_id or "",
        "sender": values.sender or "",
        "api_base": api_base,
        "unsubscribe_path": path,
        "unsubscribe_url": url,
        "unsubscribe_call": call,
        "resubscribe_keyword": values.resubscribe_keyword,
    }
    return {name: clean_text(text) for name, text in rendered.items()}


def render(
    kind: NotificationKind, templates: EmailTemplates | None, values: NotificationValues
) -> tuple[str, str, str]:
    """(subject, text, html) of one kind of email: the account's templates where set, else the defaults.

    The subject is one line (no newlines or control characters: header injection); the HTML is built from
    the text with every character of it escaped. A `reply` needs `values.message_id`.
    """
    if kind not in DEFAULT_TEMPLATES:
        raise ValueError(f"unknown notification kind {kind!r}")
    if kind == "reply" and not values.message_id:
        raise ValueError("a reply email needs the inbound message's id (its unsubscribe call names it)")
    override = getattr(templates, kind) if templates is not None else TemplateOverride()
    default_subject, default_text = DEFAULT_TEMPLATES[kind]
    substitutions = placeholder_values(values)

    subject = one_line(Template(override.subject or default_subject).safe_substitute(substitutions))
    if not subject:  # an override of only spaces or controls
        subject = one_line(Template(default_subject).safe_substitute(substitutions))
    text = _tidy(Template(clean_text(override.text or default_text)).safe_substitute(substitutions))
    if not text.strip():
        text = _tidy(Template(default_text).safe_substitute(substitutions))
    return subject, text, html_from_text(text, title=subject)


def _tidy(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row (an empty value can leave more), one final newline."""
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


def _line_kind(line: str) -> str:
    if line.startswith(">"):
        return "quote"
    if line.startswith("    "):
        return "code"
    return "text"


def html_from_text(text: str, *, title: str = "") -> str:
    """An HTML body for a plain-text one; everything from `text` is escaped.

    Paragraphs are separated by blank lines; lines starting with `>` become a blockquote; lines indented by
    four spaces become preformatted (the curl example).
    """
    parts: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        for kind, group in itertools.groupby(block.split("\n"), _line_kind):
            lines = list(group)
            if kind == "quote":
                quoted = "<br>\n".join(html.escape(line[1:].removeprefix(" ")) for line in lines)
                parts.append(f"<blockquote>{quoted}</blockquote>")
            elif kind == "code":
                parts.append("<pre>" + "\n".join(html.escape(line[4:]) for line in lines) + "</pre>")
            else:
                parts.append("<p>" + "<br>\n".join(html.escape(line) for line in lines) + "</p>")
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def build_email(
    kind: NotificationKind,
    templates: EmailTemplates | None,
    values: NotificationValues,
    *,
    to: str,
    sender: str,
) -> Email:
    """The Email for the Mailer: rendered, and tagged with its kind and account (SES configuration set reports)."""
    from chalicelib.domain.models import Email  # here, not at the top: `models` imports this module

    subject, text, html_body = render(kind, templates, values)
    return Email(
        to=to,
        sender=sender,
        subject=subject,
        text=text,
        html=html_body,
        tags={"kind": kind, "account_id": values.account_id},
    )


# --- addresses -------------------------------------------------------------------------------

# Used with fullmatch (a `$` would accept a final newline).
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def valid_email(address: str) -> bool:
    """Whether `address` looks deliverable: a pragmatic check, not RFC 5322.

    One `@`; an ASCII dot-atom local part of at most 64 characters; a domain of at least two labels (letters,
    digits, inner hyphens; internationalised names allowed), the last not all digits; no spaces or control
    characters; at most 254 characters. Quoted local parts, comments and IP-literal domains are refused.
    """
    if not isinstance(address, str) or not address or len(address) > 254 or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        return False
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:  # empty labels, labels over 63 characters, characters IDNA refuses
        return False
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()
