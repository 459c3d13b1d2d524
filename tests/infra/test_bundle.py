"""The code the stack deploys (infra/bundle.py): the functions' zip as the synthesised template names it, without the
phonenumbers data the service never reads, every module as bytecode in place of its source, a cold start from it that
compiles nothing and serves what the functions import, and tracebacks that still name the file and line."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.adapters.service_models import TRIMMED_OPERATIONS
from infra import aws_models, bundle
from tests.infra.conftest import Synthesised

FUNCTIONS = ("APIHandler", "HandleSendQueue", "FlushEmailOutbox", "HandleSmsTopic")
#: Flags of an unchecked-hash .pyc (PEP 552): hash-based (bit 0), source not checked (bit 1 clear).
UNCHECKED_HASH = 0b01


def deployed_zip(synthesised: Synthesised) -> Path:
    """The asset every function's CodeUri names, in the cloud assembly."""
    keys = {synthesised.template["Resources"][logical_id]["Properties"]["CodeUri"]["Key"] for logical_id in FUNCTIONS}
    assert len(keys) == 1, f"the functions deploy different code: {keys}"
    return synthesised.path.parent / f"asset.{keys.pop()}"


@pytest.fixture(scope="module")
def deployed(dev: Synthesised) -> zipfile.ZipFile:
    with zipfile.ZipFile(deployed_zip(dev)) as archive:
        yield archive


@pytest.fixture(scope="module")
def task_root(dev: Synthesised, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle.unpack(deployed_zip(dev), tmp_path_factory.mktemp("task"))


def test_the_deployed_zip_leaves_out_phonenumbers_data_the_service_never_reads(deployed: zipfile.ZipFile) -> None:
    names = deployed.namelist()
    assert "phonenumbers/phonenumberutil.pyc" in names
    assert any(name.startswith("phonenumbers/data/region_US") for name in names)
    assert not [name for name in names if bundle.dropped(name)]
    assert len(names) == len(set(names))
    assert not [name for name in names if name.startswith(("phonenumbers/geodata/", "phonenumbers/carrierdata/"))]


def test_every_module_of_the_deployed_zip_is_unchecked_hash_bytecode_for_the_runtime_in_place_of_its_source(
    deployed: zipfile.ZipFile, dev: Synthesised
) -> None:
    runtimes = {dev.template["Resources"][logical_id]["Properties"]["Runtime"] for logical_id in FUNCTIONS}
    assert runtimes == {f"python{sys.version_info.major}.{sys.version_info.minor}"}
    names = set(deployed.namelist())
    assert "app.pyc" in names and "chalicelib/wiring.pyc" in names and "chalicelib/__init__.pyc" in names
    # No source, and the bytecode where Python imports a module without source from: beside it, not in __pycache__.
    assert not [name for name in names if name.endswith(".py")]
    assert not [name for name in names if "__pycache__/" in name]
    for pyc in [name for name in names if name.endswith(".pyc")]:
        header = deployed.read(pyc)[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, f"{pyc} is not bytecode for this Python"
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, pyc


def test_a_traceback_from_the_deployed_zip_names_the_source_file_and_line(task_root: Path, tmp_path: Path) -> None:
    """Without sources, an error's traceback still says where: the module's path in /var/task (where Lambda unzips the
    bundle) and the line number in this checkout's source, though not the line's text."""
    code = """
import json, os, sys, traceback
sys.path.insert(0, os.getcwd())
from chalicelib.adapters.carriers import sns
try:
    sns.parse_message(b"not json")
except Exception as error:
    frame = traceback.extract_tb(error.__traceback__)[-1]
    print(json.dumps({"file": frame.filename, "line": frame.lineno, "function": frame.name, "text": frame.line,
                      "printed": traceback.format_exc()}))
"""
    result = run_from_bundle(task_root, tmp_path / "runtime", code)
    source = (Path(__file__).parents[2] / "chalicelib" / "adapters" / "carriers" / "sns.py").read_text().splitlines()
    assert result["file"] == f"{bundle.TASK_ROOT}/chalicelib/adapters/carriers/sns.py"
    assert result["function"] == "parse_message"
    assert "raise InvalidSignature" in source[result["line"] - 1]
    assert not result["text"]  # the line's text is what a sourceless bundle cannot show
    assert f'File "{result["file"]}", line {result["line"]}, in parse_message' in result["printed"]


def test_a_cold_start_from_the_deployed_zip_compiles_nothing_and_imports_every_module_of_the_app(
    task_root: Path, tmp_path: Path
) -> None:
    """As Lambda runs it: the unzipped bundle first on sys.path, then what the runtime provides (boto3, ...), no
    site-packages. Every module of the app is imported (lazily imported ones included), and phonenumbers parses and
    formats, and not one module of the bundle is compiled from its source."""
    code = """
import importlib, importlib.machinery, json, os, pkgutil, sys
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = source_to_code
sys.path.insert(0, os.getcwd())
import app, chalicelib
modules = ["app"]
for info in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
    importlib.import_module(info.name)
    modules.append(info.name)
from chalicelib.domain import phone
import phonenumbers
number = phonenumbers.parse("(415) 555-0123", "US")
print(json.dumps({
    "modules": modules,
    "compiled": [p for p in compiled if p.startswith(os.getcwd())],
    "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
    "outside": sorted({m.__file__ for m in list(sys.modules.values())
                       if getattr(m, "__file__", None) and "site-packages" in m.__file__}),
}))
"""
    result = run_from_bundle(task_root, tmp_path / "runtime", code)
    assert "chalicelib.wiring" in result["modules"] and "chalicelib.workers.send" in result["modules"]
    assert result["compiled"] == []
    assert result["e164"] == "+14155550123"
    # Nothing comes from site-packages: what the runtime provides is found through the links, the rest in the bundle.
    assert result["outside"] == []


def test_the_bundle_is_not_compiled_by_a_python_other_than_the_functions_runtime(tmp_path: Path) -> None:
    """Bytecode only loads in the Python version that wrote it: a build by another Python stops, naming both."""
    zipped = tmp_path / "deployment.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("app.py", "x = 1\n")
    other = "python3.99"
    with pytest.raises(bundle.BundleError, match=other):
        bundle.finish(zipped, runtime=other)
    with zipfile.ZipFile(zipped) as archive:
        assert archive.namelist() == ["app.py"]  # left as it was


#: What `cryptography` brings: a 14 MB compiled library, cffi and the C parser it needs.
CRYPTOGRAPHY = ("cryptography", "cffi", "_cffi_backend", "pycparser")


def test_the_deployed_zip_has_no_cryptography_and_checks_sns_and_telnyx_signatures_from_the_bundle_alone(
    deployed: zipfile.ZipFile, task_root: Path, tmp_path: Path
) -> None:
    """Without `cryptography` in the zip, an SNS message (RSA, both SignatureVersions) and a Telnyx webhook (Ed25519)
    still verify as Lambda runs the bundle, with the libraries the bundle ships, and a forged one still fails."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests.sns_signing import certificate_pem, make_key, sign
    from tests.telnyx_api_server import WebhookSigner

    tops = {name.split("/", 1)[0].split("-", 1)[0].split(".", 1)[0] for name in deployed.namelist()}
    assert not tops & set(CRYPTOGRAPHY)
    assert {"rsa", "pyasn1", "pyasn1_modules", "ecdsa"} <= tops

    key = make_key()
    now = datetime.now(UTC)
    pem = certificate_pem(key, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    topic = "arn:aws:sns:us-east-1:123456789012:optout-inbound-acme"
    cert_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem"
    base = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": topic,
        "Message": "STOP",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SigningCertURL": cert_url,
    }
    signer = WebhookSigner(Ed25519PrivateKey.generate())
    body = b'{"data":{"event_type":"message.received"}}'
    spec = {
        "pem": pem.decode(),
        "topic": topic,
        "sns": [sign(base, key, "1"), sign(base, key, "2"), {**sign(base, key, "1"), "Message": "START"}],
        "telnyx_key": signer.public_key,
        "telnyx": [signer.headers(body, now), signer.headers(b"{}", now)],
        "body": body.decode(),
    }
    code = """
import json, os, sys
from datetime import datetime, UTC
sys.path.insert(0, os.getcwd())
from chalicelib.adapters.carriers import sns, telnyx
from chalicelib.domain.errors import InvalidSignature
spec = json.loads(sys.stdin.read())
certificates = sns.SigningCertificates(lambda url: spec["pem"].encode())
def outcome(check):
    try:
        check()
    except InvalidSignature:
        return "refused"
    return "verified"
results = [outcome(lambda: sns.verify_message(sns.parse_message(json.dumps(m).encode()), topic_arn=spec["topic"],
                                              certificates=certificates, now=datetime.now(UTC)))
           for m in spec["sns"]]
results += [outcome(lambda: telnyx.verify_signature(body=spec["body"].encode(), timestamp=h["telnyx-timestamp"],
                                                    signature=h["telnyx-signature-ed25519"],
                                                    public_key=spec["telnyx_key"], received_at=datetime.now(UTC)))
            for h in spec["telnyx"]]
print(json.dumps({"results": results, "loaded": sorted(name for name in sys.modules if name.split(".")[0] in
                                                       ("cryptography", "cffi", "_cffi_backend", "rsa", "ecdsa")),
                  "files": sorted({os.path.dirname(sys.modules[m].__file__).startswith(os.getcwd())
                                   for m in ("rsa", "ecdsa", "pyasn1", "pyasn1_modules")})}))
"""
    result = run_from_bundle(task_root, tmp_path / "runtime", code, spec)
    assert result["results"] == ["verified", "verified", "refused", "verified", "refused"]
    assert not [name for name in result["loaded"] if name.split(".")[0] in CRYPTOGRAPHY]
    assert result["files"] == [True]  # the libraries come from the bundle


#: What the bundle leaves out of Powertools and pydantic (infra/bundle.py says why each is never imported), as import
#: names.
DROPPED_PACKAGES = (
    "aws_lambda_powertools.utilities.auth_alpha",
    "aws_lambda_powertools.utilities.circuit_breaker",
    "aws_lambda_powertools.utilities.data_masking",
    "aws_lambda_powertools.utilities.feature_flags",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.kafka",
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.streaming",
    "pydantic.v1",
    "pydantic.experimental",
    "pydantic.mypy",
)


def run_from_bundle(task_root: Path, runtime: Path, code: str, given: object = None, extra_path: Path | None = None):
    """Run `code` as Lambda runs the bundle (task root first on sys.path, then what the runtime provides, no
    site-packages; `extra_path` after them) with `given` as JSON on stdin; returns the JSON of its last line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "POWERTOOLS"))}
    env.update(
        PYTHONPATH=os.pathsep.join(str(p) for p in (bundle.runtime_site(runtime), extra_path) if p is not None),
        PYTHONDONTWRITEBYTECODE="1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=task_root,
        env=env,
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_deployed_zips_clients_read_the_trimmed_models_it_carries_and_botocores_own_for_the_rest(
    deployed: zipfile.ZipFile, task_root: Path, tmp_path: Path
) -> None:
    # The webhook's clients (DynamoDB, SSM, SQS) from botocore's data trimmed at build time (infra/aws_models.py);
    # the others from botocore's own models. tests/infra/test_aws_models.py checks they send what botocore's would.
    assert sorted(n for n in deployed.namelist() if n.startswith("botocore_models/")) == sorted(
        aws_models.trimmed_files()
    )
    code = """
import json, os, sys
sys.path.insert(0, os.getcwd())
from chalicelib import wiring
from chalicelib.settings import Settings
clients = wiring.Container(Settings()).clients
services = ("dynamodb", "ssm", "sqs", "sesv2", "events")
print(json.dumps({s: len(clients.get(s).meta.service_model.operation_names) for s in services}))
"""
    operations = run_from_bundle(task_root, tmp_path / "runtime", code)
    assert {service: operations[service] for service in TRIMMED_OPERATIONS} == {
        service: len(kept) for service, kept in TRIMMED_OPERATIONS.items()
    }
    assert operations["sesv2"] > 50 and operations["events"] > 20


def test_the_deployed_zip_leaves_out_the_powertools_utilities_and_pydantic_parts_nothing_imports(
    deployed: zipfile.ZipFile, task_root: Path, tmp_path: Path
) -> None:
    """Not in the zip, not importable from it; what stays beside them (the Powertools utilities the service uses,
    pydantic's deprecated V1-style methods, the packages' METADATA) still is."""
    names = deployed.namelist()
    for package in DROPPED_PACKAGES:
        path = package.replace(".", "/")
        assert not [name for name in names if name == f"{path}.pyc" or name.startswith(f"{path}/")], package
    assert not [name for name in names if name.endswith(".dist-info/RECORD") or ".dist-info/sboms/" in name]
    assert any(name.startswith("pydantic-") and name.endswith(".dist-info/METADATA") for name in names)
    code = """
import importlib.metadata, importlib.util, json, os, sys
sys.path.insert(0, os.getcwd())
dropped = json.loads(sys.stdin.read())
print(json.dumps({
    "found": [name for name in dropped if importlib.util.find_spec(name) is not None],
    "kept": [name for name in ("aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.validation",
                               "pydantic.deprecated")
             if importlib.util.find_spec(name) is None],
    "version": importlib.metadata.version("pydantic"),
}))
"""
    result = run_from_bundle(task_root, tmp_path / "runtime", code, list(DROPPED_PACKAGES))
    assert result["found"] == []
    assert result["kept"] == []
    assert result["version"] == importlib.metadata.version("pydantic")


def test_every_module_the_deployed_zip_ships_imports_from_it_alone(task_root: Path, tmp_path: Path) -> None:
    """Every module of every package in the zip (Powertools and pydantic whole, as they ship once trimmed) imports
    with what the bundle and the runtime provide: a module left out that a kept one imports fails here. The one
    allowance: a module that needs an optional dependency requirements.txt does not install (Powertools' JSON Schema
    validation needs fastjsonschema) fails as it did before anything was left out, naming that dependency."""
    code = """
import importlib, json, os, pkgutil, sys
sys.path.insert(0, os.getcwd())
root = os.getcwd()
tops = sorted(entry.name for entry in os.scandir(root) if os.path.isfile(os.path.join(entry.path, "__init__.pyc")))
tops += sorted(entry.name[:-4] for entry in os.scandir(root) if entry.name.endswith(".pyc"))
shipped = set(tops) | {entry.name.split(".")[0] for entry in os.scandir(os.environ["PYTHONPATH"])}
imported, failed = [], {}
for top in tops:
    module = importlib.import_module(top)
    names = [top] + [info.name for info in pkgutil.walk_packages(getattr(module, "__path__", []), top + ".",
                                                                  onerror=lambda name: failed.setdefault(name, "walk"))]
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            failed[name] = error.name if error.name.split(".")[0] not in shipped else f"missing {error.name}"
        else:
            imported.append(name)
print(json.dumps({"tops": tops, "imported": imported, "failed": failed}))
"""
    result = run_from_bundle(task_root, tmp_path / "runtime", code)
    assert {"aws_lambda_powertools", "pydantic", "pydantic_core", "chalicelib", "app", "phonenumbers"} <= set(
        result["tops"]
    )
    imported = set(result["imported"])
    assert {
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.data_classes.sqs_event",
        "aws_lambda_powertools.metrics",
        "aws_lambda_powertools.event_handler.openapi.compat",
        "pydantic.json_schema",
        "pydantic.deprecated.copy_internals",
        "chalicelib.wiring",
    } <= imported
    assert len(imported) > 900
    # Only modules needing a dependency the bundle does not ship (named): none misses a module of a kept package.
    assert result["failed"] == {
        "aws_lambda_powertools.utilities.validation": "fastjsonschema",
        "aws_lambda_powertools.event_handler.middlewares.schema_validation": "fastjsonschema",
    }


#: The account, contact and numbers of the scenario the deployed zip serves.
OPERATOR = "operator-secret-token"
CONTACT = "+14255550182"
SENDER = "+14155550100"
OTHER_CONTACT = "+14155550300"


def lambda_events() -> dict[str, object]:
    """The events API Gateway and SQS give the functions: an account set up with Telnyx's key, a STOP signed by
    Telnyx (and a forged one), and a send batch to the contact who stopped and to another."""
    from chalice.local import LambdaEventConverter, RouteMatcher

    import app as application
    from tests.fakes import FixedClock
    from tests.telnyx_api_server import WebhookSigner

    signer = WebhookSigner()
    to_event = LambdaEventConverter(RouteMatcher(list(application.app.routes))).create_lambda_event
    account = {
        "name": "Acme",
        "sms_provider": "local",
        "carriers": {"telnyx": {"public_key": signer.public_key, "api_key": "telnyx-api-key"}},
    }
    put = to_event(
        "PUT",
        "/v1/accounts/acme",
        {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
        json.dumps(account),
    )
    document = json.loads((Path(__file__).parents[1] / "events" / "telnyx" / "inbound_stop.json").read_text())
    body = json.dumps(document, separators=(",", ":"))
    at = FixedClock().now()
    stop = to_event(
        "POST", "/webhooks/telnyx/acme", {**signer.headers(body.encode(), at), "Content-Type": "application/json"}, body
    )
    forged_body = body.replace('"STOP"', '"START"')
    forged = to_event(
        "POST",
        "/webhooks/telnyx/acme",
        {**signer.headers(body.encode(), at), "Content-Type": "application/json"},
        forged_body,
    )
    requests = [
        {
            "request_id": f"dinner:{to}",
            "account_id": "acme",
            "to": to,
            "sender": SENDER,
            "body": "Your table is ready",
            "campaign_id": "dinner",
            "user_email": "ana@example.com",
        }
        for to in (CONTACT, OTHER_CONTACT)
    ]
    batch = {
        "Records": [
            {
                "messageId": f"message-{i}",
                "receiptHandle": f"receipt-{i}",
                "body": json.dumps(request),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:optout-send",
                "awsRegion": "us-east-1",
            }
            for i, request in enumerate(requests)
        ]
    }
    return {"put": put, "stop": stop, "forged": forged, "batch": batch}


def test_the_deployed_zip_alone_serves_a_signed_webhook_and_a_send_batch(task_root: Path, tmp_path: Path) -> None:
    """The API function and the send function, invoked as Lambda invokes them, with nothing but the bundle and the
    runtime (the stores are the in-memory fakes the unit tests use, beside it): a STOP Telnyx signed suppresses the
    contact, a forged one changes nothing, and the send batch skips that contact and texts the other, through
    Powertools' batch processing and the pydantic models as the bundle ships them."""
    fakes = tmp_path / "fakes"
    (fakes / "tests").mkdir(parents=True)
    here = Path(__file__).parents[1]
    (fakes / "tests" / "__init__.py").write_text("")
    for name in ("fakes.py", "containers.py"):
        (fakes / "tests" / name).write_text((here / name).read_text())
    code = """
import json, os, sys
sys.path.insert(0, os.getcwd())
from chalicelib.settings import Settings
from tests.containers import fake_container
from tests.fakes import RecordingSmsProvider
import app
given = json.loads(sys.stdin.read())
provider = RecordingSmsProvider()
parts = fake_container(Settings(operator_token=given["operator"], public_base_url="https://sms.example.com/api"),
                       provider=provider)
class Context:
    function_name = "sms-optout-dev"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sms-optout-dev"
    aws_request_id = "request-1"
    def get_remaining_time_in_millis(self):
        return 60_000
put = app.app(given["put"], Context())
forged = app.app(given["forged"], Context())
after_forged = parts.stores.numbers.load("acme", given["contact"])[0].suppressions
stop = app.app(given["stop"], Context())
state, _ = parts.stores.numbers.load("acme", given["contact"])
sent = app.handle_send_queue(given["batch"], Context())
root, runtime = os.getcwd(), os.environ["PYTHONPATH"].split(os.pathsep)[0]
print(json.dumps({
    "statuses": [put["statusCode"], forged["statusCode"], stop["statusCode"]],
    "suppressed_after_forged": sorted(after_forged),
    "suppressed": sorted(state.suppressions),
    "batch": sent,
    "texted": [message.to for _, message in provider.sent],
    "counts": parts.stores.outbound.campaign_counts("acme", "dinner"),
    "batch_from_bundle": sys.modules["aws_lambda_powertools.utilities.batch"].__file__.startswith(root),
    "outside": sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)
                       and "site-packages" in m.__file__}),
}))
"""
    result = run_from_bundle(
        task_root,
        tmp_path / "runtime",
        code,
        {**lambda_events(), "operator": OPERATOR, "contact": CONTACT},
        extra_path=fakes,
    )
    assert result["statuses"] == [201, 403, 200]  # the account created, the forged STOP refused, the signed one taken
    assert result["suppressed_after_forged"] == []
    assert result["suppressed"] == ["all"]
    assert result["batch"] == {"batchItemFailures": []}
    assert result["texted"] == [OTHER_CONTACT]
    assert result["counts"] == {"sent": 1, "skipped:suppressed": 1}
    assert result["batch_from_bundle"] is True
    assert result["outside"] == []
