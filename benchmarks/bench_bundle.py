"""The Lambda bundle: the deployment zip every function runs, its size and what makes it up.

Run from the project root:

    .venv/bin/python benchmarks/bench_bundle.py [--top 12] [--write BENCHMARKS.md]

Builds the bundle the infra/ stack deploys (`infra.bundle.package`, the function the stack's construct calls:
`chalice package`, requirements.txt installed for Lambda's platform, boto3 left to the runtime, then trimmed and
compiled), and beside it the zip as `chalice package` alone leaves it (what was deployed before), then reads both: the
size, the size unzipped (what counts against Lambda's 250 MB limit), and the top-level packages by unzipped size.
Needs PyPI the first time (Chalice caches the dependencies under .chalice/deployments/), no AWS credentials.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _report  # noqa: E402  (benchmarks/, the script's directory, is on sys.path)

from infra import aws_models  # noqa: E402

TITLE = "Lambda bundle"
MB = 1024 * 1024
#: The target for the deployed bundle, unzipped.
TARGET = 12 * MB
#: What cryptography brought when it checked the signatures (cryptography, cffi, pycparser), unzipped MB with bytecode,
#: as this script last measured it with them.
CRYPTOGRAPHY_MB = 16.33
#: What checks the SNS (RSA) and Telnyx (Ed25519) signatures instead: pure Python.
SIGNATURE_LIBRARIES = ("rsa", "pyasn1", "pyasn1_modules", "ecdsa", "six")
#: The deployed bundle, unzipped MB, with the Powertools utilities the service does not use, pydantic's V1 API,
#: experimental previews and mypy plugin and the packages' install records still in it, as this script last measured it
#: (the same sources as the build that first left them out).
BEFORE_LIBRARY_TRIM_MB = 13.30
#: Lambda's limits for a .zip deployment package: unzipped (with layers), and zipped when uploaded directly.
UNZIPPED_LIMIT = 250 * MB
ZIPPED_UPLOAD_LIMIT = 50 * MB


#: As the stack packages it: its own roles, so Chalice reads no policy file (the role here is a placeholder).
ROLES = {"manage_iam_role": False, "iam_role_arn": "arn:aws:iam::123456789012:role/bench-bundle"}


def build_bundle(workdir: Path, project_dir: Path = ROOT, *, sources: bool = False) -> Path:
    """The bundle the infra/ stack deploys (infra/bundle.py), for the project in `project_dir` (`sources`: the same
    with its sources kept beside the bytecode)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # Chalice builds a botocore session; no credentials
    from infra import bundle

    return bundle.package(project_dir, workdir, "dev", ROLES, sources=sources)


def build_plain(workdir: Path, project_dir: Path = ROOT) -> Path:
    """The deployment zip `chalice package` alone writes (sources only, nothing left out): what was deployed before."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from chalice.api import package_app

    package_app(project_dir=str(project_dir), output_dir=str(workdir), stage="dev", chalice_config=ROLES)
    return _without_bytecode(workdir / "deployment.zip")


def _without_bytecode(bundle: Path) -> Path:
    """The zip without the .pyc `chalice package` copies from this checkout's `__pycache__` folders (a clean
    checkout, as in CI, has none; they would not be valid in Lambda anyway: their timestamps are the checkout's)."""
    temporary = bundle.with_suffix(".tmp")
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(temporary, "w") as target:
        for info in source.infolist():
            if not info.filename.endswith(".pyc"):
                target.writestr(info, source.read(info))
    temporary.replace(bundle)
    return bundle


def native_libraries(bundle: Path) -> dict[str, int]:
    """The compiled extension modules (`*.so`) of a zip, by path, unzipped bytes."""
    with zipfile.ZipFile(bundle) as archive:
        return {info.filename: info.file_size for info in archive.infolist() if info.filename.endswith(".so")}


def phonenumbers_sizes(bundle: Path) -> tuple[int, int, int]:
    """phonenumbers in a zip: (unzipped bytes without .pyc, bytes of .pyc, files)."""
    with zipfile.ZipFile(bundle) as archive:
        entries = [info for info in archive.infolist() if info.filename.startswith("phonenumbers/")]
    sources = [info for info in entries if not info.filename.endswith(".pyc")]
    return (
        sum(i.file_size for i in sources),
        sum(i.file_size for i in entries) - sum(i.file_size for i in sources),
        len(entries),
    )


def phonenumberslite_wheel(workdir: Path) -> tuple[str, int, int] | None:
    """The newest phonenumberslite wheel from the package index: (version, unzipped bytes of its package, files);
    None when it cannot be downloaded (offline)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "phonenumberslite", "-d", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wheels = sorted(workdir.glob("phonenumberslite-*.whl"))
    if done.returncode != 0 or not wheels:
        return None
    with zipfile.ZipFile(wheels[-1]) as wheel:
        package = [info for info in wheel.infolist() if info.filename.startswith("phonenumbers/")]
    return wheels[-1].name.split("-")[1], sum(info.file_size for info in package), len(package)


def bytecode_bytes(bundle: Path) -> dict[str, int]:
    """The .pyc of a zip, unzipped bytes by top-level package."""
    with zipfile.ZipFile(bundle) as archive:
        entries = [info for info in archive.infolist() if info.filename.endswith(".pyc")]
    return {name: size for name, (size, _) in _group(entries, package_of).items()}


def package_of(name: str) -> str:
    """The top-level package a zip entry belongs to; a `*.dist-info` folder counts as its distribution's metadata."""
    top = name.split("/", 1)[0]
    if top.endswith((".dist-info", ".egg-info", ".data")):
        return "(package metadata: *.dist-info)"
    if top.endswith(".py") or top.endswith(".so"):
        return top.split(".", 1)[0]
    return top


Sizes = dict[str, tuple[int, int]]  # name -> (unzipped bytes, files)


def _group(entries: list[zipfile.ZipInfo], key: Callable[[str], str]) -> Sizes:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for info in entries:
        total = totals[key(info.filename)]
        total[0] += info.file_size
        total[1] += 1
    return {name: (size, count) for name, (size, count) in totals.items()}


def measure(bundle: Path) -> tuple[int, int, int, Sizes, tuple[str, Sizes]]:
    """(zip size, unzipped size, files, by package, (the largest package, by its folders))."""
    with zipfile.ZipFile(bundle) as archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
    packages = _group(entries, package_of)
    largest = max(packages, key=lambda name: packages[name][0])
    inside = _group(
        [info for info in entries if package_of(info.filename) == largest],
        lambda name: "/".join(name.split("/")[:2]) + "/" if name.count("/") > 1 else f"{largest}/*.py (modules)",
    )
    unzipped = sum(info.file_size for info in entries)
    return bundle.stat().st_size, unzipped, len(entries), packages, (largest, inside)


def _rows(sizes: Sizes, unzipped: int, top: int) -> list[tuple[object, ...]]:
    ranked = sorted(sizes.items(), key=lambda item: item[1][0], reverse=True)
    shown, rest = ranked[:top], ranked[top:]
    rows: list[tuple[object, ...]] = [
        (f"`{name}`", f"{size / MB:.2f}", f"{100 * size / unzipped:.1f} %", count) for name, (size, count) in shown
    ]
    if rest:
        rest_size = sum(size for _, (size, _) in rest)
        rest_files = sum(count for _, (_, count) in rest)
        rows.append((f"{len(rest)} others", f"{rest_size / MB:.2f}", f"{100 * rest_size / unzipped:.1f} %", rest_files))
    return rows


def render(
    plain: tuple[int, int, int, Sizes, tuple[str, Sizes]],
    with_sources: tuple[int, int, int, Sizes, tuple[str, Sizes]],
    deployed: tuple[int, int, int, Sizes, tuple[str, Sizes]],
    natives: dict[str, int],
    bytecode_by_package: dict[str, int],
    phone: tuple[tuple[int, int, int], tuple[str, int, int] | None],
    top: int,
) -> str:
    zipped, unzipped, files, packages, largest = deployed
    largest_name, inside = largest
    native = sum(natives.values())
    biggest = sorted(natives.items(), key=lambda item: item[1], reverse=True)
    phonenumbers = packages.get("phonenumbers", (0, 0))[0]
    signatures = sum(packages.get(name, (0, 0))[0] for name in SIGNATURE_LIBRARIES)
    models = packages.get(aws_models.FOLDER, (0, 0))[0]
    bytecode = sum(bytecode_by_package.values())
    lines = [
        _report.machine(),
        "",
        "The deployment zip every function runs (the API, send, outbox and two-way SMS functions share it): the "
        "bundle `infra/bundle.py` builds and the infra/ stack's CDK construct uploads as its code asset, beside the "
        "zip `chalice package` alone builds, which was deployed before (both built in this run from the same "
        "sources). The bundle is that zip without phonenumbers' geocoding, carrier and time zone data and modules, "
        "type stubs, Powertools' Swagger UI assets, ecdsa's tests and pyasn1-modules' ASN.1 modules other than RFC "
        "5280's, the Powertools utilities the service does not use (auth_alpha, circuit_breaker, data_masking, "
        "feature_flags, idempotency, kafka, parameters, streaming), pydantic's V1 API, experimental previews and "
        "mypy plugin, and the packages' install records (`*.dist-info/RECORD`, pydantic-core's SBOM), with every "
        "module as unchecked-hash bytecode (.pyc, compiled without column positions) in place of its source; beside "
        "it, the same build with the sources kept (the .pyc in `__pycache__`, as deployed before). boto3 and "
        "botocore are in none: the Lambda runtime provides them. Measured by `benchmarks/bench_bundle.py`.",
        "",
        _report.table(
            ["bundle", "`chalice package` alone (before)", "with sources kept", "deployed bundle (infra/bundle.py)"],
            [
                (
                    "zipped",
                    f"{plain[0] / MB:.2f} MB",
                    f"{with_sources[0] / MB:.2f} MB",
                    f"{zipped / MB:.2f} MB ({100 * zipped / ZIPPED_UPLOAD_LIMIT:.0f} % of the 50 MB direct upload)",
                ),
                (
                    "unzipped",
                    f"{plain[1] / MB:.2f} MB",
                    f"{with_sources[1] / MB:.2f} MB",
                    f"{unzipped / MB:.2f} MB ({100 * unzipped / UNZIPPED_LIMIT:.1f} % of Lambda's 250 MB)",
                ),
                ("files", plain[2], with_sources[2], files),
            ],
        ),
        "",
        (
            f"Target: at most {TARGET / MB:.0f} MB unzipped: **{unzipped / MB:.2f} MB, "
            f"{'met' if unzipped <= TARGET else 'missed'}**. Of it: compiled extension modules {native / MB:.2f} MB ("
            + ", ".join(f"`{name}` {size / MB:.2f}" for name, size in biggest[:3])
            + f"), bytecode {bytecode / MB:.2f} MB, phonenumbers {phonenumbers / MB:.2f} MB (was "
            f"{plain[3].get('phonenumbers', (0, 0))[0] / MB:.2f}), the rest (sources, metadata, data) "
            f"{(unzipped - native - bytecode) / MB:.2f} MB, of which botocore's data trimmed to what the service "
            f"uses (`{aws_models.FOLDER}/`, infra/aws_models.py) {models / MB:.2f} MB. The SNS and Telnyx signature "
            "checks' libraries ("
            + ", ".join(f"`{name}`" for name in SIGNATURE_LIBRARIES)
            + f", pure Python) are {signatures / MB:.2f} MB of it; `cryptography`, `cffi` and `pycparser`, which "
            f"checked them before, were {CRYPTOGRAPHY_MB:.2f} MB. With the Powertools and pydantic parts and install "
            f"records nothing imports still in it, the bundle was {BEFORE_LIBRARY_TRIM_MB:.2f} MB (infra/bundle.py "
            "says why each is never imported; tests/infra/test_bundle.py imports every module left in the bundle "
            "from it). With its sources kept the bundle is "
            f"{with_sources[1] / MB:.2f} MB ({'within' if with_sources[1] <= TARGET else 'over'} the target)."
        ),
        "",
        _phonenumbers_note(*phone),
        "",
        "The deployed bundle by top-level package, unzipped:",
        "",
        _report.table(["package", "MB", "share of the bundle", "files"], _rows(packages, unzipped, top)),
        "",
        f"Inside `{largest_name}`, the largest:",
        "",
        _report.table(["folder", "MB", "share of the bundle", "files"], _rows(inside, unzipped, 6)),
    ]
    return "\n".join(lines)


def _phonenumbers_note(trimmed: tuple[int, int, int], lite: tuple[str, int, int] | None) -> str:
    sources, pyc, files = trimmed
    pinned = _pinned("phonenumbers")
    if lite is None:
        compared = "phonenumberslite could not be downloaded to compare (offline)"
    else:
        version, size, lite_files = lite
        compared = (
            f"the newest phonenumberslite wheel ({version}; the same library and import name without those three "
            f"modules and their data) holds {size / MB:.2f} MB in {lite_files} files, type stubs included"
        )
    return (
        f"phonenumbers: the bundle keeps phonenumbers {pinned} (requirements.txt) and leaves its geocoding, carrier "
        f"and time zone data and modules out: {(sources + pyc) / MB:.2f} MB in {files} files ({pyc / MB:.2f} MB "
        f"of it bytecode); {compared}. Both import the same modules for parsing and formatting "
        "(`import phonenumbers` reads none of the data left out; region metadata loads on first use), so the cold "
        "start is the same; trimming keeps the version the tests run in the venv, which phonenumberslite, "
        "released separately, may lag."
    )


def _pinned(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    return "(unpinned)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=12, help="packages to list by size (default 12)")
    parser.add_argument("--write", metavar="FILE", help="replace this script's section of FILE (e.g. BENCHMARKS.md)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as workdir:
        plain = measure(build_plain(Path(workdir) / "plain"))
        with_sources = measure(build_bundle(Path(workdir) / "sources", sources=True))
        deployed_zip = build_bundle(Path(workdir) / "deployed")
        deployed = measure(deployed_zip)
        natives, bytecode = native_libraries(deployed_zip), bytecode_bytes(deployed_zip)
        phone = phonenumbers_sizes(deployed_zip), phonenumberslite_wheel(Path(workdir) / "lite")
    body = render(plain, with_sources, deployed, natives, bytecode, phone, args.top)
    print(body)
    _report.write_if_asked(args.write, TITLE, body)


if __name__ == "__main__":
    main()
