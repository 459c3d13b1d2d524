"""The Lambda bundle the stack deploys: `chalice package`'s deployment zip, trimmed and compiled.

`chalice package` vendors requirements.txt into the zip as source only, and Lambda unzips it into /var/task, which is
read-only: every cold start would compile our code, pydantic, Powertools and phonenumbers again, and Python could not
write the bytecode anywhere. So the zip is rewritten once, here, at build time:

- what the service never imports is left out: phonenumbers' geocoding, carrier and time zone data and the modules that
  read it (the service parses, validates and formats numbers only: chalicelib/domain/phone.py), type stubs (`*.pyi`),
  the Swagger UI assets of Powertools' event handler (the app serves its own OpenAPI document, no UI), ecdsa's test
  suite and every ASN.1 module of pyasn1-modules but RFC 5280's (the SNS certificate check reads that one only),
  the Powertools utilities the service does not use, pydantic's V1 API, experimental previews and mypy plugin, and
  the install records of the packages' metadata (DROPPED_PREFIXES and DROPPED_METADATA say why each is safe);
- every module is compiled to bytecode for the runtime's Python with unchecked-hash invalidation (PEP 552), so the
  zip's fixed timestamps do not matter and nothing is compiled at run time, and shipped *instead of* its source: the
  .pyc at the module's legacy location (`wiring.pyc` beside where `wiring.py` was), which is where Python imports a
  module without source from. That keeps the bundle about a third smaller. A traceback still names the file and line
  (`File "/var/task/chalicelib/wiring.py", line 42, in build`: the path the code was compiled for) but cannot print the
  line's source text under it, so the bytecode is compiled without the column positions that would point into it.
  `package(..., sources=True)` builds the bundle with the sources kept and the bytecode in
  `__pycache__/<name>.cpython-311.pyc` instead (the benchmarks compare the two).

`package()` is the one build: the stack's construct calls it (infra/stack.py) and so do the benchmarks
(benchmarks/bench_bundle.py for the size, benchmarks/bench_cold_start.py runs the unzipped bundle).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from infra import aws_models

#: Zip entries (by path prefix) that nothing in the service imports.
DROPPED_PREFIXES = (
    "phonenumbers/geodata/",
    "phonenumbers/carrierdata/",
    "phonenumbers/tzdata/",
    "phonenumbers/geocoder.py",
    "phonenumbers/carrier.py",
    "phonenumbers/timezone.py",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/",
    # ecdsa's own test suite, shipped inside the package.
    "ecdsa/test_",
    # Powertools utilities the service does not use. chalicelib imports from Powertools only `Logger`, `metrics`,
    # `utilities.batch` and `utilities.data_classes.sqs_event`; none of the modules kept
    # (Powertools, pydantic or anything else in the bundle) imports these, statically or through `import_module` /
    # a lazy `__getattr__` (`utilities.parser.models`' lazy map names `parser/models/kafka.py`, not this `kafka`).
    # `utilities.validation` stays: the event handler's `middlewares.schema_validation` imports it.
    "aws_lambda_powertools/utilities/auth_alpha/",
    "aws_lambda_powertools/utilities/circuit_breaker/",
    "aws_lambda_powertools/utilities/data_masking/",
    "aws_lambda_powertools/utilities/feature_flags/",
    "aws_lambda_powertools/utilities/idempotency/",
    "aws_lambda_powertools/utilities/kafka/",
    # (Parameters: the SSM secret store calls GetParameter itself, chalicelib/adapters/ssm_secrets.py says why.)
    "aws_lambda_powertools/utilities/parameters/",
    "aws_lambda_powertools/utilities/streaming/",
    # pydantic's V1 API. pydantic 2 imports it in two places only: `_migration`, when code reads a name that moved
    # (`pydantic.utils.deep_update` and the like: nothing in the bundle imports `pydantic.utils`), and schema
    # generation for a type with `__get_validators__` (the V1 hook: no type in the bundle outside `pydantic/v1/`
    # defines one). Neither `pydantic/__init__`'s `_dynamic_imports` nor Powertools names it.
    "pydantic/v1/",
    # Opt-in previews (`pydantic.experimental.pipeline`, ...): imported by nothing in pydantic or the bundle.
    "pydantic/experimental/",
    # pydantic's mypy plugin: read by mypy when type checking, imports mypy (not in the bundle).
    "pydantic/mypy.py",
)
#: Files of the installed packages' metadata (`<name>-<version>.dist-info/`) that only pip and auditing tools read:
#: the list of installed files with their hashes (stale in the bundle anyway: its .py are .pyc here) and
#: pydantic-core's software bill of materials. METADATA (read by `importlib.metadata.version`), entry points and
#: licences stay.
DROPPED_METADATA = ("RECORD", "sboms/")
#: Packages of which the service imports only some modules (folder -> module names kept): of pyasn1-modules' ASN.1
#: definitions, the SNS certificate check reads RFC 5280's only.
KEPT_MODULES = {"pyasn1_modules/": frozenset({"__init__", "rfc5280"})}
#: Zip entries (by suffix) never read at run time: type stubs.
DROPPED_SUFFIXES = (".pyi",)
#: Where Lambda unzips the bundle: the path compiled code objects name (Python rewrites it to the real path on load).
TASK_ROOT = "/var/task"
#: What the Lambda Python runtime provides beside the bundle, precompiled (requirements.txt leaves boto3 and botocore to
#: it): top-level names in site-packages.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six.py", "jmespath")
#: The timestamp Chalice gives every entry, kept for the ones added, so the zip is the same for the same sources.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


class BundleError(RuntimeError):
    """The bundle cannot be built as the runtime needs it (e.g. a Python other than the functions' runtime)."""


def package(
    project_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    stage: str,
    chalice_config: Mapping[str, Any] | None = None,
    *,
    sources: bool = False,
) -> Path:
    """`chalice package` into `output_dir` (deployment.zip and sam.json), then trim and compile the zip in place
    (`sources`: keep the sources beside the bytecode). Returns the zip's path."""
    from chalice.api import package_app

    package_app(
        project_dir=str(project_dir),
        output_dir=str(output_dir),
        stage=stage,
        chalice_config=dict(chalice_config) if chalice_config is not None else None,
    )
    bundle = Path(output_dir) / "deployment.zip"
    finish(bundle, runtime=_runtime(Path(output_dir) / "sam.json"), sources=sources)
    return bundle


def _runtime(sam_template: Path) -> str:
    """The functions' runtime in the SAM template `chalice package` wrote (one for all of them)."""
    resources = json.loads(sam_template.read_text())["Resources"].values()
    runtimes = {r["Properties"]["Runtime"] for r in resources if r["Type"] == "AWS::Serverless::Function"}
    if len(runtimes) != 1:
        raise BundleError(f"expected one runtime for the functions, found {sorted(runtimes)}")
    return runtimes.pop()


def kept(name: str) -> bool:
    """Whether an entry of `chalice package`'s zip goes into the bundle. Bytecode it copied from the project's
    `__pycache__` folders (timestamp-checked, from whatever Python ran there) is replaced by the bundle's own."""
    return not (name.endswith(".pyc") or "/__pycache__/" in f"/{name}" or dropped(name))


def dropped(name: str) -> bool:
    """Whether a path is one of those the bundle leaves out as never imported."""
    if name.startswith(DROPPED_PREFIXES) or name.endswith(DROPPED_SUFFIXES):
        return True
    top, _, inside = name.partition("/")
    if top.endswith(".dist-info") and inside.startswith(DROPPED_METADATA):
        return True
    return any(
        name.startswith(folder) and PurePosixPath(name).name.split(".", 1)[0] not in modules
        for folder, modules in KEPT_MODULES.items()
    )


def finish(bundle: Path, runtime: str, *, sources: bool = False) -> None:
    """Rewrite the zip `bundle`: drop what is never imported, compile every module to unchecked-hash .pyc and ship that
    in place of its source (`sources`: beside it, in `__pycache__`), and add botocore's data trimmed to what the service
    uses (infra/aws_models.py). The bytecode is only valid for the Python that wrote it, so this Python must be the
    functions' runtime."""
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != here:
        raise BundleError(f"the functions run {runtime}, this is {here}: build the bundle with {runtime}")
    with tempfile.TemporaryDirectory(prefix="bundle-") as scratch:
        root = Path(scratch)
        with zipfile.ZipFile(bundle) as source:
            entries = [info for info in source.infolist() if not info.is_dir() and kept(info.filename)]
            contents = {info.filename: source.read(info) for info in entries}
        for name, data in contents.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _compile(root, sources=sources)
        compiled = sorted(str(PurePosixPath(p.relative_to(root).as_posix())) for p in root.rglob("*.pyc"))
        if not sources:
            replaced = {name[:-1] for name in compiled}
            contents = {name: data for name, data in contents.items() if name not in replaced}
        by_name = {info.filename: info for info in entries}
        temporary = bundle.with_suffix(".tmp")
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as target:
            for name in sorted(contents):
                target.writestr(by_name[name], contents[name])
            added = {name: (root / name).read_bytes() for name in compiled} | aws_models.trimmed_files()
            for name, data in added.items():
                info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, data)
        temporary.replace(bundle)


def _compile(root: Path, *, sources: bool) -> None:
    """Compile every module under `root` to unchecked-hash bytecode, naming TASK_ROOT as its directory: beside its
    source in `__pycache__` (`sources`), else at the module's legacy location and without column positions (`-X
    no_debug_ranges`: a traceback's `^^^^` markers point into the source line, which a sourceless bundle cannot show
    anyway; the bytecode is about a tenth smaller, BENCHMARKS "Lambda bundle"). In a child interpreter: the flag is
    the process's."""
    command = [
        sys.executable,
        *([] if sources else ["-X", "no_debug_ranges"]),
        "-m",
        "compileall",
        "-q",
        "-j",
        "1",
        "-d",
        TASK_ROOT,
        "--invalidation-mode",
        "unchecked-hash",
        *([] if sources else ["-b"]),
        str(root),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BundleError(f"a module of the bundle does not compile:\n{done.stdout}{done.stderr}")


def unpack(bundle: Path, task_root: Path) -> Path:
    """Unzip `bundle` into `task_root`, as Lambda does into /var/task; returns `task_root`."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(task_root)
    return task_root


def runtime_site(directory: Path) -> Path:
    """`directory`, filled with links to this interpreter's copies of what the Lambda runtime provides (boto3,
    botocore, ... with the .pyc pip wrote for them), for running an unpacked bundle as Lambda does: with `python -S`
    (no site-packages), the task root first on `sys.path` and this directory after it (`PYTHONPATH`)."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    directory.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        source = site_packages / name
        if not source.exists():
            raise BundleError(f"{name} is not installed in {site_packages}")
        (directory / name).symlink_to(source)
        if name.endswith(".py"):  # a single module: its .pyc lives in site-packages' own __pycache__
            cache = directory / "__pycache__"
            cache.mkdir(exist_ok=True)
            for pyc in (site_packages / "__pycache__").glob(f"{name[:-3]}.*.pyc"):
                (cache / pyc.name).symlink_to(pyc)
    return directory
