"""CONVENTIONS' dependency rule, checked on the imports themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
#: Third-party packages the domain may use: pure Python, no I/O.
DOMAIN_PACKAGES = {"pydantic", "phonenumbers"}
#: Carriers the domain must not name: each lives in its adapter module alone.
CARRIERS = ("twilio", "telnyx", "plivo", "vonage", "bandwidth", "sns", "pinpoint")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a.b import c` may import the module a.b.c: name what is imported, where it lives.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(folder: str) -> list[Path]:
    return sorted((CHALICELIB / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("domain"), ids=lambda p: p.name)
def test_the_domain_imports_nothing_of_ours_but_the_domain_and_no_io_library(path: Path) -> None:
    for name in imports(path):
        top = name.split(".")[0]
        if top == "chalicelib":
            assert name.startswith("chalicelib.domain."), name
        else:
            assert top not in {"boto3", "botocore", "chalice", "aws_lambda_powertools", "requests"}, name
            assert top in DOMAIN_PACKAGES or _stdlib(top), name


@pytest.mark.parametrize("path", modules("domain"), ids=lambda p: p.name)
def test_the_domain_names_no_carrier(path: Path) -> None:
    text = path.read_text().lower()
    assert not [carrier for carrier in CARRIERS if carrier in text]


@pytest.mark.parametrize("path", modules("api") + modules("workers"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_views_and_workers_use_the_domain_and_wiring_not_adapters(path: Path) -> None:
    for name in imports(path):
        assert not name.startswith("chalicelib.adapters"), name
        assert name.split(".")[0] not in {"boto3", "botocore"}, name


@pytest.mark.parametrize("path", modules("adapters"), ids=lambda p: p.name)
def test_adapters_do_not_reach_into_views_workers_or_wiring(path: Path) -> None:
    for name in imports(path):
        assert not name.startswith(("chalicelib.api", "chalicelib.workers", "chalicelib.wiring")), name


def _stdlib(top: str) -> bool:
    import sys

    return top in sys.stdlib_module_names or top == "__future__"
