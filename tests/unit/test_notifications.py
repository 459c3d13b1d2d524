"""Email alerts: the default and the account's own texts, escaping, placeholders, header safety, addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from chalicelib.domain.notifications import (
    DEFAULT_TEMPLATES,
    KINDS,
    PLACEHOLDERS,
    EmailTemplates,
    NotificationValues,
    TemplateOverride,
    build_email,
    html_from_text,
    placeholder_values,
    render,
    unknown_placeholders,
    unsubscribe_path,
    valid_email,
)

WHEN = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)


def values(**overrides: object) -> NotificationValues:
    fields: dict[str, object] = {
        "account_id": "acme",
        "account_name": "Acme Dental",
        "phone": "+14155550123",
        "when": WHEN,
        "source": "keyword",
        "scopes": ("all",),
        "message": "STOP please",
        "message_id": "SM123",
        "sender": "+14155550100",
        "api_base": "https://sms.example.com/prod",
    }
    fields.update(overrides)
    return NotificationValues.model_validate(fields)


# --- defaults --------------------------------------------------------------------------------


def test_an_opt_out_email_says_which_number_when_how_the_scope_and_their_words() -> None:
    subject, text, html = render("opt_out", None, values())

    assert subject == "+14155550123 opted out of texts from Acme Dental"
    assert "Number: +14155550123" in text
    assert "When: 2026-11-22T10:30:05Z" in text
    assert "How: they texted an opt-out keyword (such as STOP)" in text
    assert "Scope: all texts from Acme Dental" in text
    assert "> STOP please" in text
    assert "<blockquote>STOP please</blockquote>" in html


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("keyword", "opt-out keyword"),
        ("natural_language", "in their own words"),
        ("carrier", "carrier reported"),
        ("manual", "an admin of the account"),
        ("import", "imported"),
        ("unsubscribe", "unsubscribed the number from one of the contact's messages"),
        ("something_new", "something_new"),
        (None, "not recorded"),
    ],
)
def test_an_opt_out_email_says_how_it_came_about(source: str | None, words: str) -> None:
    _, text, _ = render("opt_out", None, values(source=source))

    assert words in text


def test_an_opt_out_without_a_message_says_so() -> None:
    _, text, _ = render("opt_out", None, values(source="manual", message=None))

    assert "(no message)" in text
    assert "\n\n\n" not in text


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("sender:+14155550100", "texts from Acme Dental's number +14155550100"),
        ("group:reminders", 'texts from Acme Dental in the group "reminders"'),
    ],
)
def test_an_opt_out_email_describes_a_narrower_scope(scope: str, words: str) -> None:
    _, text, _ = render("opt_out", None, values(scopes=scope))

    assert f"Scope: {words}" in text


def test_an_opt_out_email_has_no_marketing() -> None:
    _, text, _ = render("opt_out", None, values())

    for word in ("offer", "discount", "sale", "promo", "http"):
        assert word not in text.lower()


def test_the_contact_is_told_they_get_no_more_texts_and_how_to_resubscribe() -> None:
    subject, text, _ = render("opt_out_contact", None, values())

    assert subject == "You will get no more texts from Acme Dental"
    assert "You will get no more texts from Acme Dental at +14155550123." in text
    assert "Text START to the number you opted out from" in text
    # Their own message and the admin API are no business of theirs.
    assert "STOP please" not in text
    assert "/v1/accounts" not in text


def test_an_opt_in_email_says_the_number_opted_back_in() -> None:
    subject, text, _ = render("opt_in", None, values(message="START", source=None))

    assert subject == "+14155550123 opted back in to texts from Acme Dental"
    assert "+14155550123 has opted back in" in text
    assert "> START" in text


def test_a_reply_email_shows_the_message_and_the_one_call_that_unsubscribes_the_number() -> None:
    subject, text, html = render("reply", None, values(message="Who is this?\nCall me back"))

    assert subject == "Reply from +14155550123 to Acme Dental"
    assert "> Who is this?\n> Call me back" in text
    assert "When: 2026-11-22T10:30:05Z" in text
    assert (
        '    curl -X POST -H "Authorization: Bearer <your API token>" '
        "https://sms.example.com/prod/v1/accounts/acme/inbound/SM123/unsubscribe\n" in text
    )
    assert "<pre>curl -X POST -H &quot;Authorization: Bearer &lt;your API token&gt;&quot; https://sms" in html
    assert "<blockquote>Who is this?<br>\nCall me back</blockquote>" in html


def test_without_the_api_base_a_reply_email_shows_the_path_only() -> None:
    _, text, _ = render("reply", None, values(api_base=None))

    assert "    POST /v1/accounts/acme/inbound/SM123/unsubscribe\n" in text
    assert "curl" not in text


def test_a_reply_email_needs_the_message_id() -> None:
    with pytest.raises(ValueError, match="message"):
        render("reply", None, values(message_id=None))


def test_the_unsubscribe_path_quotes_the_ids() -> None:
    assert unsubscribe_path("acme", "a/b c") == "/v1/accounts/acme/inbound/a%2Fb%20c/unsubscribe"
    _, text, _ = render("reply", None, values(api_base="https://sms.example.com/prod/"))
    assert "https://sms.example.com/prod/v1/accounts/acme/inbound/SM123/unsubscribe" in text


def test_every_kind_renders_with_the_defaults() -> None:
    for kind in KINDS:
        subject, text, html = render(kind, EmailTemplates(), values())
        assert subject and text.endswith("\n") and "$" not in text
        assert html.startswith("<!DOCTYPE html>")


def test_when_is_shown_in_utc() -> None:
    later = datetime(2026, 11, 22, 5, 30, 5, tzinfo=timezone(timedelta(hours=-5)))

    assert placeholder_values(values(when=later))["when"] == "2026-11-22T10:30:05Z"
    assert placeholder_values(values(when=datetime(2026, 11, 22, 10, 30, 5)))["when"] == "2026-11-22T10:30:05Z"


def test_every_placeholder_has_a_value_and_the_defaults_use_only_known_ones() -> None:
    assert set(placeholder_values(values())) == set(PLACEHOLDERS)
    for subject, text in DEFAULT_TEMPLATES.values():
        assert unknown_placeholders(subject) == set()
        assert unknown_placeholders(text) == set()


# --- the account's own texts -----------------------------------------------------------------


def test_each_kind_renders_the_accounts_own_texts() -> None:
    templates = EmailTemplates(
        opt_out=TemplateOverride(subject="STOP from $phone", text="Opt-out: $phone ($source) at $when"),
        opt_out_contact=TemplateOverride(subject="Bye from $account_name", text="No more texts at $phone."),
        opt_in=TemplateOverride(subject="Back: $phone", text="$phone is back."),
        reply=TemplateOverride(subject="Re: $phone", text="$message\n\nUnsubscribe: $unsubscribe_url"),
    )

    assert render("opt_out", templates, values())[:2] == (
        "STOP from +14155550123",
        "Opt-out: +14155550123 (keyword) at 2026-11-22T10:30:05Z\n",
    )
    assert render("opt_out_contact", templates, values())[:2] == (
        "Bye from Acme Dental",
        "No more texts at +14155550123.\n",
    )
    assert render("opt_in", templates, values())[:2] == ("Back: +14155550123", "+14155550123 is back.\n")
    assert render("reply", templates, values())[:2] == (
        "Re: +14155550123",
        "STOP please\n\nUnsubscribe: https://sms.example.com/prod/v1/accounts/acme/inbound/SM123/unsubscribe\n",
    )


def test_a_kind_without_an_override_keeps_its_default_and_an_override_may_set_only_the_subject() -> None:
    templates = EmailTemplates(opt_out=TemplateOverride(subject="Opt-out: $phone"))

    subject, text, _ = render("opt_out", templates, values())
    assert subject == "Opt-out: +14155550123"
    assert "Number: +14155550123" in text  # the default text
    assert render("reply", templates, values())[0] == "Reply from +14155550123 to Acme Dental"


def test_unknown_placeholders_and_stray_dollars_stay_as_written() -> None:
    templates = EmailTemplates(
        opt_in=TemplateOverride(subject="$phone owes $$5 $nope", text="Hi $firstname, ${phone} costs $ 5 and $")
    )

    subject, text, _ = render("opt_in", templates, values())
    assert subject == "+14155550123 owes $5 $nope"
    assert text == "Hi $firstname, +14155550123 costs $ 5 and $\n"
    assert unknown_placeholders("Hi $firstname, ${phone}") == {"firstname"}


def test_a_value_is_never_read_as_a_template() -> None:
    # The contact writes a placeholder: it is their text, not ours to fill in.
    _, text, _ = render("reply", None, values(message="send $account_id and ${api_base}"))

    assert "> send $account_id and ${api_base}" in text


def test_an_empty_template_is_refused_and_a_blank_one_falls_back_to_the_default() -> None:
    with pytest.raises(ValidationError):
        TemplateOverride(subject="")
    templates = EmailTemplates(opt_in=TemplateOverride(subject=" \n ", text="\n \n"))

    subject, text, _ = render("opt_in", templates, values())
    assert subject == "+14155550123 opted back in to texts from Acme Dental"
    assert "has opted back in" in text


def test_templates_are_frozen_and_strict() -> None:
    with pytest.raises(ValidationError):
        EmailTemplates.model_validate({"opt_out": {"subject": "x", "body": "y"}})
    with pytest.raises(ValidationError):
        EmailTemplates.model_validate({"welcome": {"subject": "x"}})


# --- escaping and header safety --------------------------------------------------------------


def test_the_contacts_script_is_escaped_in_the_html() -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'

    _, text, html = render("reply", None, values(message=attack))

    assert attack in text  # the plain text shows what they wrote
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp;" in html


def test_every_value_and_the_accounts_own_template_are_escaped_in_the_html() -> None:
    templates = EmailTemplates(opt_out=TemplateOverride(text="<b>$account_name</b> <a href='$phone'>x</a>"))

    _, _, html = render("opt_out", templates, values(account_name="<i>Acme</i> & Co"))

    body = html.split("<body>", 1)[1]
    assert "<b>" not in body and "<a " not in body and "<i>" not in body
    assert "&lt;b&gt;&lt;i&gt;Acme&lt;/i&gt; &amp; Co&lt;/b&gt;" in body
    assert "<title>+14155550123 opted out of texts from &lt;i&gt;Acme&lt;/i&gt; &amp; Co</title>" in html


def test_the_html_body_follows_the_text() -> None:
    html = html_from_text("Hello\nthere\n\n> quoted\n> more\n\n    code <x>\n\nBye")

    assert "<p>Hello<br>\nthere</p>" in html
    assert "<blockquote>quoted<br>\nmore</blockquote>" in html
    assert "<pre>code &lt;x&gt;</pre>" in html
    assert "<p>Bye</p>" in html


@pytest.mark.parametrize(
    "name",
    [
        "Acme\r\nBcc: victim@example.com",
        "Acme\nBcc: victim@example.com",
        "Acme\rBcc: victim@example.com",
        "Acme\u2028Bcc: victim@example.com",
        "Acme\x85Bcc: victim@example.com",
        "Acme\x00\tBcc: victim@example.com",
    ],
)
def test_a_subject_is_one_line_whatever_the_values(name: str) -> None:
    subject, _, _ = render("opt_out_contact", None, values(account_name=name))

    assert subject == "You will get no more texts from Acme Bcc: victim@example.com"


def test_a_subject_injection_in_the_accounts_template_is_stripped_too() -> None:
    templates = EmailTemplates(opt_in=TemplateOverride(subject="Hi\r\nBcc: x@example.com\r\n\r\n$phone"))

    subject, _, _ = render("opt_in", templates, values())

    assert subject == "Hi Bcc: x@example.com +14155550123"


def test_a_long_subject_is_cut() -> None:
    subject, _, _ = render("opt_out_contact", None, values(account_name="A" * 500))

    assert len(subject) == 200 and subject.endswith("…")


def test_control_and_bidi_override_characters_are_removed_from_the_text() -> None:
    _, text, _ = render("reply", None, values(message="pay\x00 me\u202e\x1b[31m now\r\nok"))

    assert "> pay me[31m now\n> ok" in text


# --- the Email -------------------------------------------------------------------------------


def test_build_email_tags_the_kind_and_the_account() -> None:
    email = build_email("opt_out", None, values(), to="ana@example.com", sender="alerts@example.com")

    assert email.to == "ana@example.com" and email.sender == "alerts@example.com"
    assert email.subject == "+14155550123 opted out of texts from Acme Dental"
    assert email.tags == {"kind": "opt_out", "account_id": "acme"}
    assert email.html.startswith("<!DOCTYPE html>")


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "ana@example.com",
        "Ana.Lopez+sms@mail.example.co.uk",
        "o'brien@example.ie",
        "x@a-b.example",
        "user@bücher.example",
        "a@" + "b" * 63 + ".com",
        "a" * 64 + "@example.com",
    ],
)
def test_valid_email_accepts(address: str) -> None:
    assert valid_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "ana@@example.com",
        "ana@bo@example.com",
        "ana lopez@example.com",
        "ana@exa mple.com",
        " ana@example.com",
        "ana@example.com\n",
        "ana@example.com\r\nBcc: x@example.com",
        "ana\x00@example.com",
        ".ana@example.com",
        "ana.@example.com",
        "an..a@example.com",
        "ana@.example.com",
        "ana@example..com",
        "ana@example.com.",
        "ana@-example.com",
        "ana@example-.com",
        "ana@192.168.0.1",
        "ana@[192.168.0.1]",
        '"ana"@example.com',
        "Ana <ana@example.com>",
        "a@" + "b" * 64 + ".com",
        "a" * 65 + "@example.com",
        "a@" + ("b" * 62 + ".") * 4 + "com",  # 257 characters, each label valid
    ],
)
def test_valid_email_refuses(address: str) -> None:
    assert not valid_email(address)


def test_valid_email_refuses_what_is_not_a_string() -> None:
    assert not valid_email(None)  # type: ignore[arg-type]
