"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (Schemathesis).

Every operation of `GET /openapi.json`, with schema-valid and schema-invalid requests, each sent with the
operator's token, the account's, another account's, a forged one, another scheme or none; in schema-valid requests
path values that exist some of the time, and Twilio webhooks to the account half the time signed as Twilio signs
them (so the parsing behind the signature check is fuzzed too). A run fails on:

- any 5xx (`not_a_server_error`);
- any answer its operation does not document (status, content type, headers, body schema);
- a schema-invalid request that is accepted (`negative_data_rejection`), an operation that ignores its token
  (`ignored_auth`), a method a path does not take that is not a 405;
- any error body outside the contract's shape `{"error": {"code", "message", "details"?}}`, or one that names
  internals (tracebacks, botocore's or moto's words).

Schema-valid requests the service refuses for what they mean (a phone string that is no number, an account that
does not exist) are expected: `positive_data_acceptance` is off.

Three runs, all derandomized (a run is repeatable):

- in-process, random cases (Schemathesis's fuzzing phase), `FUZZ_EXAMPLES` (default 25) per operation;
- in-process, every parameter and field at its boundaries, missing and of the wrong type (its coverage phase);
- the running local server (`chalice local` on the embedded DynamoDB: what the in-memory fakes cannot show, such
  as keys DynamoDB refuses), random cases, `FUZZ_SERVER_EXAMPLES` (default 10) per operation.

In-process, the app answers through Chalice's local gateway (as `chalice.test.Client` does) behind a small WSGI
adapter, on the in-memory fakes. The figures (requests, status classes) are printed when the module ends.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from chalice.test import Client
from hypothesis import HealthCheck, settings

import app as application
from chalicelib import wiring
from chalicelib.adapters.carriers import twilio
from chalicelib.domain.models import OutboundRecord, SendRequest
from chalicelib.settings import Settings
from tests.containers import fake_container

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SERVER_EXAMPLES = int(os.environ.get("FUZZ_SERVER_EXAMPLES", "10"))
OPERATOR = "fuzz-operator-token"
BASE = "https://sms.example.com/api"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "2" * 32
CONTACT = "+14155550123"
OUR_NUMBER = "+14155550100"
FORM = "application/x-www-form-urlencoded"
#: Words of internals no answer may carry.
INTERNALS = ("Traceback", "botocore", "ClientError", "ValidationException", "moto", 'File "', "Exception(")


class Figures:
    """What a run sent and got: requests by status class, and the operations it covered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.classes: Counter[str] = Counter()
        self.operations: set[str] = set()
        self.first: float | None = None
        self.last = 0.0

    def count(self, status: int) -> None:
        self.classes[f"{status // 100}xx"] += 1

    def mark(self) -> None:
        """A case of the run is done: the run's time is from its first case to its last (generation included)."""
        self.last = time.monotonic()
        if self.first is None:
            self.first = self.last

    @property
    def seconds(self) -> float:
        return self.last - (self.first or self.last)

    def line(self) -> str:
        classes = ", ".join(f"{name}: {self.classes[name]}" for name in sorted(self.classes))
        server_errors = self.classes["5xx"]
        return (
            f"API fuzz, {self.name}: {sum(self.classes.values())} requests over {len(self.operations)} operations "
            f"in {self.seconds:.1f} s ({classes}); server errors: {server_errors}"
        )


@dataclass
class Target:
    """Where a run sends its requests: who may call it, which accounts it has, what Twilio signs against."""

    operator: str
    signing_base: str
    accounts: tuple[str, str]
    figures: Figures
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def known(self) -> dict[str, list[str]]:
        """Path values that exist, by parameter."""
        own, other = self.accounts
        return {
            "account_id": [own, own, other],
            "carrier": ["twilio", "twilio"],
            "phone": [CONTACT, "+14155550200", "4155550201", "(415) 555-0202"],
            "message_id": ["SM1", "SM2"],
            "request_id": ["c1:1"],
        }

    def authorization(self, who: str | None) -> dict[str, str]:
        """The headers of `who`: `operator`, `own` or `other` (an account's token), a raw header value, or nobody."""
        if who == "operator":
            return {"Authorization": f"Bearer {self.operator}"}
        if who in ("own", "other"):
            return {"Authorization": f"Bearer {self.tokens[who]}"}
        return {"Authorization": who} if who else {}

    def set_up(self, send: Callable[[str, str, dict[str, str], bytes], int]) -> None:
        """Two accounts on Twilio, suppressions, an opt-out and a message awaiting review in the inbound log."""
        own, _ = self.accounts
        headers = {"Authorization": f"Bearer {self.operator}", "Content-Type": "application/json"}
        for who, account_id in zip(("own", "other"), self.accounts, strict=True):
            body = {
                "name": "Fuzz",
                "issue_token": True,
                "carriers": {"twilio": {"account_sid": SID, "auth_token": AUTH_TOKEN}},
            }
            status, answer = send_json("PUT", f"/v1/accounts/{account_id}", headers, body, send)
            assert status in (200, 201), answer
            self.tokens[who] = answer["token"]
        admin = {"Authorization": f"Bearer {self.tokens['own']}", "Content-Type": "application/json"}
        for n in range(3):
            send_json("POST", f"/v1/accounts/{own}/suppressions", admin, {"phone": f"+1415555020{n}"}, send)
        for sid, text in (("SM1", "STOP"), ("SM2", "not interested")):
            params = {"MessageSid": sid, "AccountSid": SID, "From": CONTACT, "To": OUR_NUMBER, "Body": text}
            path = f"/webhooks/twilio/{own}"
            signature = twilio.compute_signature(self.signing_base + path, list(params.items()), AUTH_TOKEN)
            form = {"Content-Type": FORM, "X-Twilio-Signature": signature}
            assert send("POST", path, form, urlencode(params).encode()) == 200


def send_json(
    method: str, path: str, headers: dict[str, str], body: object, send: Callable[..., Any]
) -> tuple[int, Any]:
    answers: list[bytes] = []
    status = send(method, path, headers, json.dumps(body).encode(), answers)
    return status, json.loads(answers[0]) if answers and answers[0] else None


# --- in process: the app through Chalice's local gateway, on the in-memory fakes --------------------------------

IN_PROCESS = Target(OPERATOR, BASE, ("acme", "other"), Figures("in process, random"))
BOUNDARIES = Figures("in process, boundaries")
#: Installed as the process's container only while this module runs (and for a moment at import, to load the
#: document the app serves), so other modules see the container they expect.
DEPS = fake_container(Settings(operator_token=OPERATOR, public_base_url=BASE))
wiring.use(None)
HTTP = Client(application.app).http
#: The figures the WSGI adapter counts into (the run under way's).
COUNTING: list[Figures] = [IN_PROCESS.figures]


def send_in_process(method: str, path: str, headers: dict[str, str], body: bytes, answers: list | None = None) -> int:
    response = HTTP.request(method, path, headers=headers, body=body)
    if answers is not None:
        answers.append(response.body)
    return response.status_code


def wsgi(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """The Chalice app as a WSGI app: the request through Chalice's local gateway, as chalice.test.Client sends it."""
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
    if environ.get("QUERY_STRING") and "?" not in path:
        path += "?" + environ["QUERY_STRING"]
    headers = {name[5:].replace("_", "-").lower(): value for name, value in environ.items() if name.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    response = HTTP.request(environ["REQUEST_METHOD"], path, headers=headers, body=body)
    COUNTING[0].count(response.status_code)
    pairs = [
        (name, str(item))
        for name, value in response.headers.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    start_response(f"{response.status_code} Status", pairs)
    return iter([response.body])


def _config(phase: str, examples: int) -> schemathesis.Config:
    """Schemathesis's settings for one phase: `fuzzing` (random cases) or `coverage` (every boundary and type)."""
    return schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "all",
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
                # The tests set the credentials themselves (all kinds of them, valid ones too).
                "with-security-parameters": False,
            },
            "checks": {"positive_data_acceptance": {"enabled": False}},
            "phases": {
                **{name: {"enabled": name == phase} for name in ("examples", "fuzzing", "stateful")},
                # Not OPTIONS: the local gateway answers it itself, as CORS preflight (API Gateway has no such method).
                "coverage": {
                    "enabled": phase == "coverage",
                    "unexpected-methods": ["get", "put", "post", "delete", "patch", "trace", "query"],
                },
            },
        }
    )


wiring.use(DEPS)
try:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", wsgi, config=_config("fuzzing", EXAMPLES))
    boundaries = schemathesis.openapi.from_wsgi("/openapi.json", wsgi, config=_config("coverage", EXAMPLES))
    DOCUMENT = json.loads(HTTP.get("/openapi.json").body)
finally:
    wiring.use(None)


# --- what every run checks and does --------------------------------------------------------------------------------


def contract_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx answer is `{"error": {"code", "message", "details"?}}` and names no internals."""
    if response.status_code < 400 or case.method == "HEAD":
        return None
    text = response.content.decode("utf-8", "replace")
    body = json.loads(text)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the contract's error shape: {text[:200]}"
    error = body["error"]
    assert isinstance(error, dict) and {"code", "message"} <= set(error) <= {"code", "message", "details"}, text[:200]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), text[:200]
    assert isinstance(error.get("details", {}), dict), text[:200]
    sent = _request_text(response)
    for word in INTERNALS:
        # A word the request carried may be echoed (an account id "botocore" is "no account botocore").
        assert word not in text or word in sent, f"the answer names internals ({word!r}): {text[:200]}"
    return True


def _request_text(response: Any) -> str:
    from urllib.parse import unquote_plus

    request = response.request
    body = request.body if isinstance(request.body, str) else (request.body or b"").decode("utf-8", "replace")
    return unquote_plus(request.url or "") + unquote_plus(body) + body


#: Who calls: the operator (every account), the account's token, another account's, a forged one, another
#: scheme, nobody.
CALLERS = ["operator", "own", "other", "Bearer acme.forged", "Basic Zm9vOmJhcg==", None]
#: Which existing path value to use per parameter (an index into Target.known; past its end: keep the generated one).
PICKS = st.fixed_dictionaries({name: st.integers(0, 4) for name in IN_PROCESS.known})
#: What a signed Twilio webhook's fields are set to, over what Schemathesis generated: a message (or status) id and
#: our number, and at times what makes the service store something.
SMS_FIELDS = st.fixed_dictionaries(
    {"MessageSid": st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True), "To": st.just(OUR_NUMBER)}
).flatmap(
    lambda ids: st.sampled_from(
        [
            {},
            {"From": CONTACT, "Body": "STOP"},
            {"From": CONTACT, "Body": "START"},
            {"From": "+14155550199", "Body": "please take me off your list"},
            {"From": CONTACT, "Body": "HELP"},
            {"From": "+14155550197", "Body": "see you at 5"},
            {"MessageStatus": "undelivered", "ErrorCode": "21610", "To": CONTACT, "From": OUR_NUMBER},
            {"MessageStatus": "undelivered", "ErrorCode": "30003", "To": "+14155550198", "From": OUR_NUMBER},
            {"MessageSid": "SM" + "a" * 990, "From": CONTACT, "Body": "STOP"},  # issue 10, case 3
        ]
    ).map(lambda extra: {**ids, **extra})
)


def _positive(case: Any) -> bool:
    return case.meta is None or not case.meta.generation.mode.is_negative


def use_known_values(case: Any, target: Target, picks: dict[str, int]) -> None:
    """In a schema-valid case, path values that exist, as `picks` says."""
    if not case.path_parameters or not _positive(case):
        return
    known = target.known
    chosen = {name: known[name][i] for name, i in picks.items() if name in known and i < len(known[name])}
    case.path_parameters = {name: chosen.get(name, value) for name, value in case.path_parameters.items()}


def sign_twilio(case: Any, target: Target, fields: dict[str, str]) -> None:
    """Sign a schema-valid POST to a Twilio webhook of the target's account as Twilio would: a form with the
    account's AccountSid and `fields` laid over the string fields Schemathesis generated."""
    parameters = case.path_parameters or {}
    own, _ = target.accounts
    if parameters.get("carrier") != "twilio" or parameters.get("account_id") != own or case.method != "POST":
        return
    if not _positive(case):
        return
    generated = case.body if isinstance(case.body, dict) else {}
    form = {name: value for name, value in generated.items() if isinstance(value, str)}
    case.body = {**form, "AccountSid": SID, **fields}
    case.media_type = FORM
    url = target.signing_base + case.formatted_path
    if case.query:
        url += "?" + urlencode(case.query, doseq=True, quote_via=quote)
    signature = twilio.compute_signature(url, list(case.body.items()), AUTH_TOKEN)
    case.headers = {**(case.headers or {}), "X-Twilio-Signature": signature}


def fuzz_one(
    case: Any,
    target: Target,
    caller: str | None,
    picks: dict[str, int],
    signed: bool,
    fields: dict,
    transport: dict[str, Any] | None = None,
) -> None:
    target.figures.mark()
    try:
        _fuzz_one(case, target, caller, picks, signed, fields, transport or {})
    finally:
        target.figures.mark()


def _fuzz_one(
    case: Any,
    target: Target,
    caller: str | None,
    picks: dict[str, int],
    signed: bool,
    fields: dict,
    transport: dict[str, Any],
) -> None:
    target.figures.operations.add(case.operation.label)
    use_known_values(case, target, picks)
    if signed and case.path.startswith("/webhooks/"):
        sign_twilio(case, target, fields)
    # Credentials go in as explicit headers: Schemathesis then probes the operation without them and with invalid
    # ones (`ignored_auth`).
    headers = target.authorization(caller)
    response = case.call(headers=headers, **transport)
    case.validate_response(
        response, headers=headers, transport_kwargs=transport or None, additional_checks=[contract_error_body]
    )


# --- the runs ------------------------------------------------------------------------------------------------------


@schema.parametrize()
@schema.given(caller=st.sampled_from(CALLERS), picks=PICKS, signed=st.booleans(), fields=SMS_FIELDS)
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES)
def test_every_operation_keeps_the_contract_under_fuzzing(case, caller, picks, signed, fields) -> None:
    fuzz_one(case, IN_PROCESS, caller, picks, signed, fields)


@boundaries.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_the_contract_at_its_boundaries(case) -> None:
    # Each parameter and field at its limits, missing, of the wrong type; with the operator's token, to acme when
    # the path is otherwise valid.
    BOUNDARIES.mark()
    BOUNDARIES.operations.add(case.operation.label)
    COUNTING[0] = BOUNDARIES
    use_known_values(case, IN_PROCESS, {"account_id": 0})
    headers = IN_PROCESS.authorization("operator")
    try:
        response = case.call(headers=headers)
        case.validate_response(response, headers=headers, additional_checks=[contract_error_body])
    finally:
        COUNTING[0] = IN_PROCESS.figures
        BOUNDARIES.mark()


@pytest.fixture(scope="module", autouse=True)
def in_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """The fakes installed and filled for the module's in-process runs; every run's figures printed at the end."""
    wiring.use(DEPS)
    IN_PROCESS.set_up(send_in_process)
    request_id, campaign = "c1:1", "c1"
    message = SendRequest(
        request_id=request_id, account_id="acme", to=CONTACT, sender=OUR_NUMBER, body="Hi", campaign_id=campaign
    )
    DEPS.stores.outbound.finish(OutboundRecord(request=message, status="sent", updated_at=DEPS.clock.now()))
    DEPS.stores.outbound.count("acme", campaign, {"sent": 1})
    yield
    wiring.use(None)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        for figures in (IN_PROCESS.figures, BOUNDARIES, SERVER):
            if figures.operations:
                print("\n" + figures.line(), end="")
        print()


# --- the running local server, on the embedded DynamoDB ---------------------------------------------------------

SERVER = Figures("local server")
#: The server run's target (its accounts are made when the run starts) and HTTP session (it counts the answers).
SERVER_RUN: dict[str, Any] = {}
#: The document the in-process app serves: the running server serves the same (the test checks it), so the cases
#: are generated from it at import, before any server runs.
server_schema = schemathesis.openapi.from_dict(DOCUMENT, config=_config("fuzzing", SERVER_EXAMPLES))


@pytest.fixture(scope="module")
def server_target(local_api) -> Target:
    """A target on the running server, with fresh accounts of this run's own."""
    if "target" in SERVER_RUN:
        return SERVER_RUN["target"]
    served = requests.get(f"{local_api.url}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == DOCUMENT
    suffix = secrets.token_hex(3)
    target = Target(local_api.operator_token, local_api.url, (f"fuzz-{suffix}", f"fuzz-{suffix}-x"), SERVER)
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: SERVER.count(response.status_code))

    def send(method: str, path: str, headers: dict[str, str], body: bytes, answers: list | None = None) -> int:
        response = requests.request(method, local_api.url + path, headers=headers, data=body, timeout=30)
        if answers is not None:
            answers.append(response.content)
        return response.status_code

    target.set_up(send)
    SERVER_RUN.update(target=target, session=session, url=local_api.url)
    return target


@server_schema.parametrize()
@server_schema.given(caller=st.sampled_from(CALLERS), picks=PICKS, signed=st.booleans(), fields=SMS_FIELDS)
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=SERVER_EXAMPLES)
def test_the_running_local_server_keeps_the_contract_under_fuzzing(
    case, caller, picks, signed, fields, server_target
) -> None:
    transport = {"base_url": SERVER_RUN["url"], "session": SERVER_RUN["session"], "timeout": 30}
    fuzz_one(case, server_target, caller, picks, signed, fields, transport)
