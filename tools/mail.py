"""The emails the embedded SES (moto server) has received, oldest first.

    AWS_ENDPOINT_URL=http://127.0.0.1:5000 python -m tools.mail [--to ADDRESS] [--json]

moto keeps what SES v1 and v2 sent in `GET /moto-api/data.json`, under `ses`:

- `Message`: one per SendEmail with simple content: `id`, `source`, `destinations`
  (`{"ToAddresses": [...], "CcAddresses": [...], "BccAddresses": [...]}`), `subject`, `body`. For SES v2 with
  both a text and an HTML body, moto keeps only the HTML one: the text shown here is rebuilt from it.
- `RawMessage`: one per raw email: `id`, `source`, `destinations` (a list), `raw_data` (the MIME text).

Each list is in sending order; the two lists are listed one after the other (moto keeps no send time).
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from email import policy
from email.parser import Parser
from html.parser import HTMLParser
from typing import Any


def received_emails(endpoint_url: str, timeout: float = 10) -> list[dict[str, Any]]:
    """What the embedded SES received: dicts with `id`, `from`, `to`, `cc`, `bcc`, `subject`, `text`, `html`.

    `html` is None for a text-only email; `text` is the text body, or one rebuilt from the HTML.
    """
    url = f"{endpoint_url.rstrip('/')}/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (the local endpoint)
        data = json.load(response)
    ses = data.get("ses") or {}
    emails = [_simple(message) for message in ses.get("Message") or []]
    emails += [_raw(message) for message in ses.get("RawMessage") or []]
    return emails


def _simple(message: dict[str, Any]) -> dict[str, Any]:
    destinations = message.get("destinations") or {}
    body = str(message.get("body") or "")
    is_html = _looks_like_html(body)
    return {
        "id": message.get("id"),
        "from": message.get("source"),
        "to": list(destinations.get("ToAddresses") or []),
        "cc": list(destinations.get("CcAddresses") or []),
        "bcc": list(destinations.get("BccAddresses") or []),
        "subject": message.get("subject"),
        "text": text_from_html(body) if is_html else body,
        "html": body if is_html else None,
    }


def _raw(message: dict[str, Any]) -> dict[str, Any]:
    parsed = Parser(policy=policy.default).parsestr(str(message.get("raw_data") or ""))  # an EmailMessage
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    html_body = html_part.get_content() if html_part is not None else None
    text = text_from_html(html_body) if html_body else ""
    if text_part is not None:
        text = text_part.get_content()
    return {
        "id": message.get("id"),
        "from": message.get("source") or parsed.get("From"),
        # moto lists the Destination's addresses and the headers' (so some twice).
        "to": list(dict.fromkeys(message.get("destinations") or [])) or [str(parsed.get("To", ""))],
        "cc": [str(parsed["Cc"])] if parsed.get("Cc") else [],
        "bcc": [],
        "subject": str(parsed.get("Subject", "")),
        "text": text,
        "html": html_body,
    }


def _looks_like_html(body: str) -> bool:
    head = body.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<p>", "<p ", "<div", "<body", "<table"))


class _TextFromHtml(HTMLParser):
    """Plain text from the HTML `chalicelib.domain.notifications.html_from_text` builds (and simple others)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._current: list[str] = []
        self._kind = "text"
        self._skip = 0

    def end_block(self) -> None:
        content = "".join(self._current).strip("\n")
        if content.strip():
            if self._kind == "quote":
                content = "\n".join(f"> {line}".rstrip() for line in content.split("\n"))
            elif self._kind == "code":
                content = "\n".join(f"    {line}" for line in content.split("\n"))
            self.blocks.append(content)
        self._current = []
        self._kind = "text"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("head", "script", "style", "title"):
            self._skip += 1
        elif tag == "br":
            self._current.append("\n")
        elif tag in ("p", "div", "blockquote", "pre", "li", "tr", "h1", "h2", "h3"):
            self.end_block()
            self._kind = {"blockquote": "quote", "pre": "code"}.get(tag, "text")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "script", "style", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("p", "div", "blockquote", "pre", "li", "tr", "h1", "h2", "h3", "body"):
            self.end_block()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._kind != "code":  # source newlines are layout (after a tag) or a space, except inside <pre>
            data = data.lstrip("\n").replace("\n", " ")
        self._current.append(data)


def text_from_html(body: str) -> str:
    """A readable plain-text version of an HTML body: paragraphs, `> ` quotes, indented preformatted text."""
    parser = _TextFromHtml()
    parser.feed(body)
    parser.close()
    parser.end_block()
    return "\n\n".join(parser.blocks) + "\n" if parser.blocks else ""


def _print(emails: list[dict[str, Any]]) -> None:
    if not emails:
        print("No emails received.")
        return
    for number, email in enumerate(emails, 1):
        print(f"--- {number}/{len(emails)}  id {email['id']}")
        print(f"From:    {email['from']}")
        print(f"To:      {', '.join(email['to'])}")
        if email["cc"]:
            print(f"Cc:      {', '.join(email['cc'])}")
        print(f"Subject: {email['subject']}")
        print()
        print(email["text"].rstrip("\n"))
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mail", description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="the embedded AWS endpoint (default: $AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--to", help="only emails to this address")
    parser.add_argument("--json", action="store_true", help="print the emails as JSON")
    args = parser.parse_args(argv)
    if not args.endpoint_url:
        parser.error("set AWS_ENDPOINT_URL or pass --endpoint-url (the embedded endpoint `make run` prints)")
    try:
        emails = received_emails(args.endpoint_url)
    except OSError as error:  # URLError and timeouts included
        print(f"could not read {args.endpoint_url}/moto-api/data.json: {error}", file=sys.stderr)
        return 1
    if args.to:
        wanted = args.to.lower()
        emails = [email for email in emails if any(wanted in address.lower() for address in email["to"])]
    if args.json:
        print(json.dumps(emails, indent=2, ensure_ascii=False))
    else:
        _print(emails)
    return 0


if __name__ == "__main__":
    sys.exit(main())
