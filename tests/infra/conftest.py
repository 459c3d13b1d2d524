"""Synthesise the stack once per session for each stage (offline: no AWS credentials, no cdk CLI).

`chalice package` builds the Lambda bundle for Lambda's platform, so the first synthesis of a checkout downloads the
runtime wheels from PyPI; later ones reuse Chalice's cache in .chalice/deployments/.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii (aws_cdk's runtime) warns on every start that this machine's Node 20 is past its end of life.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PROD_CONTEXT = {
    "stage": "prod",
    "sender_email": "alerts@example.com",
    "alarm_email": "ops@example.com",
    "public_base_url": "https://sms.example.com/api",
    # Two accounts text through AWS End User Messaging SMS (one id with a character a logical id cannot hold).
    "aws_sms_accounts": "acme,beta_2",
}
#: The service's accounts PROD_CONTEXT gives a two-way SMS topic (dev gives none).
PROD_SMS_ACCOUNTS = ("acme", "beta_2")
DEV_CONTEXT = {"stage": "dev"}
#: Another deployed stage with every guard rail set from context instead of its default.
STAGING_CONTEXT = {
    "stage": "staging",
    "public_base_url": "https://staging.example.com",
    "send_concurrency": "25",
    "webhook_rate_limit": "50",
    "webhook_burst_limit": "75",
    "admin_rate_limit": "5",
    "admin_burst_limit": "8",
}

# Environment variables the CDK CLI (or a developer's shell) may set that would change what is synthesised.
_AMBIENT = ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "CDK_OUTDIR", "CDK_CONTEXT_JSON", "STAGE")


@dataclass(frozen=True)
class Synthesised:
    path: Path
    template: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}

    def resource(self, resource_type: str) -> dict[str, Any]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.values()))

    def logical_id(self, resource_type: str, prefix: str) -> str:
        matches = [k for k in self.resources(resource_type) if k.startswith(prefix)]
        assert len(matches) == 1, f"expected one {resource_type} named {prefix}*, found {matches}"
        return matches[0]


def _synthesise(context: dict[str, str], outdir: Path) -> Synthesised:
    """Synthesise with a neutral environment (restored afterwards, so other suites see theirs)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _AMBIENT:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # chalice package needs a region, never credentials
        from infra.app import synthesize

        path, template = synthesize(context, outdir)
    return Synthesised(path=path, template=template)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return _synthesise(PROD_CONTEXT, tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return _synthesise(DEV_CONTEXT, tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return _synthesise(STAGING_CONTEXT, tmp_path_factory.mktemp("cdk-staging"))


@pytest.fixture(scope="session", params=["prod", "dev"])
def stage(request: pytest.FixtureRequest) -> Synthesised:
    """Each test that takes it runs against both stages."""
    return request.getfixturevalue(request.param)


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
