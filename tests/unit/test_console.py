"""The admin console's files as the API serves them: only the known files, with their types and a strict
Content-Security-Policy; `/` and `/console` lead to `/console/`; and nothing in them turns data into HTML or reaches
outside the service (the browser tests, tests/browser/, drive the pages themselves)."""

from __future__ import annotations

import re

import pytest
from chalice.test import Client

import app as application
from chalicelib import wiring
from chalicelib.api.console import ASSETS, CONTENT_SECURITY_POLICY, FILES
from chalicelib.settings import Settings
from tests.containers import fake_container


@pytest.fixture
def client():
    fake_container(Settings(operator_token="operator", public_base_url="https://sms.example.com/api"))
    try:
        with Client(application.app) as test_client:
            yield test_client
    finally:
        wiring.use(None)


def test_the_console_page_and_its_files_are_served_with_their_type_and_a_strict_policy(client) -> None:
    page = client.http.get("/console/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="app.js">' in page.body
    for name, content_type in ASSETS.items():
        answer = client.http.get(f"/console/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["Content-Type"] == content_type
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("name", ["secret.txt", "..%2Fapp.py", "%2E%2E%2Fsettings.py", "APP.JS", "index.htm"])
def test_only_the_consoles_own_files_are_served(client, name) -> None:
    answer = client.http.get(f"/console/{name}")
    assert answer.status_code == 404
    assert answer.json_body["error"]["code"] == "not_found"


def test_every_file_under_the_console_folder_is_listed_and_nothing_listed_is_missing() -> None:
    assert {path.name for path in FILES.iterdir()} == set(ASSETS)


def test_console_without_a_slash_moves_to_console_with_one(client) -> None:
    answer = client.http.get("/console")
    assert answer.status_code == 301
    assert answer.headers["Location"] == "/console/"


def test_the_root_leads_to_the_console_and_the_contract_instead_of_a_403(client) -> None:
    answer = client.http.get("/")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/console/"
    assert b'href="/openapi.json"' in answer.body
    assert client.http.post("/").status_code == 404


SCRIPTS = sorted(FILES.glob("*.js"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_script_turns_text_into_html(path) -> None:
    # SMS bodies are written by strangers: the DOM is built with createElement and textContent only.
    source = path.read_text()
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "DOMParser")
    for sink in sinks:
        assert sink not in source, (path.name, sink)


@pytest.mark.parametrize("path", sorted(FILES.iterdir()), ids=lambda p: p.name)
def test_nothing_is_fetched_from_outside_the_service(path) -> None:
    source = path.read_text()
    # The only absolute URLs allowed: the SVG namespace and examples in placeholders.
    urls = set(re.findall(r"https?://[^\s\"'`)]+", source)) - {"http://www.w3.org/2000/svg"}
    assert {url for url in urls if "example.com" not in url} == set(), path.name
    assert "style=" not in source and "<style" not in source  # the policy allows no inline style


def test_the_token_is_kept_in_session_storage_and_never_put_in_a_url() -> None:
    api = (FILES / "api.js").read_text()
    assert "sessionStorage" in api and "localStorage" not in "".join(p.read_text() for p in SCRIPTS)
    assert re.search(r"Authorization = `Bearer \$\{current\.token\}`", api)
    assert not re.search(r"[?&]token=", "".join(p.read_text() for p in SCRIPTS))
