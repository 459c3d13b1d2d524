"""The policy scan: checkov on the synthesised prod and dev templates, every finding waived with its reason
(infra/checkov-waivers.toml), no waiver left over, and what the stack fixed stays fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.policy_scan import Finding, Waiver, load_waivers, report, scan, unused, unwaived
from tests.infra.conftest import Synthesised

README = Path(__file__).resolve().parents[2] / "infra" / "README.md"

#: Findings of the stack before its guard rails (checkov 3.3.30), fixed since: none may come back.
FIXED = (
    ("CKV_AWS_76", "AWS::Serverless::Api.RestAPI"),  # access logging
    ("CKV_AWS_27", "AWS::SQS::Queue.SendQueue"),  # queue encryption (KMS)
    ("CKV_AWS_27", "AWS::SQS::Queue.SendDeadLetterQueue"),
    ("CKV_AWS_115", "AWS::Serverless::Function.HandleSendQueue"),  # concurrency limits
    ("CKV_AWS_115", "AWS::Serverless::Function.FlushEmailOutbox"),
)


def finding(check_id: str, resource: str) -> Finding:
    return Finding(check_id=check_id, check_name="a check", resource=resource)


def waiver(check_id: str, *resources: str) -> Waiver:
    return Waiver(check_id=check_id, title="t", resources=resources, reason="r")


def test_a_waiver_covers_its_check_on_the_resources_it_names() -> None:
    functions = waiver("CKV_AWS_117", "AWS::Serverless::Function.*")
    assert functions.covers(finding("CKV_AWS_117", "AWS::Serverless::Function.APIHandler"))
    assert not functions.covers(finding("CKV_AWS_116", "AWS::Serverless::Function.APIHandler"))
    assert not functions.covers(finding("CKV_AWS_117", "AWS::Lambda::Function.Other"))
    one_queue = waiver("CKV_AWS_27", "AWS::SQS::Queue.InboundFailureQueue*")
    assert one_queue.covers(finding("CKV_AWS_27", "AWS::SQS::Queue.InboundFailureQueueE25BC290"))
    assert not one_queue.covers(finding("CKV_AWS_27", "AWS::SQS::Queue.SendQueue1F034DCA"))


def test_unwaived_findings_and_unused_waivers_are_reported() -> None:
    findings = [finding("CKV_AWS_117", "AWS::Serverless::Function.APIHandler"), finding("CKV_AWS_1", "X::Y.Z")]
    waivers = [waiver("CKV_AWS_117", "AWS::Serverless::Function.*"), waiver("CKV_AWS_2", "X::Y.*")]
    assert unwaived(findings, waivers) == [findings[1]]
    assert unused(waivers, findings) == [waivers[1]]


def test_every_waiver_has_a_reason_and_the_readme_lists_it() -> None:
    waivers = load_waivers()
    assert waivers
    readme = README.read_text()
    for entry in waivers:
        assert len(entry.reason) > 40, entry  # a reason, not a word
        assert entry.resources and all("." in pattern for pattern in entry.resources), entry  # type.logical id
        assert entry.check_id in readme, f"{entry.check_id} is waived but infra/README.md does not say why"


@pytest.mark.slow
def test_checkov_finds_nothing_unwaived(prod: Synthesised, dev: Synthesised) -> None:
    # Offline and bounded: checkov's own venv is installed on first use (PyPI, timeout 15 min), each scan times out
    # after 5 min (about 10 s here).
    waivers = load_waivers()
    results = [scan(prod.path), scan(dev.path)]
    text, ok = report(results, waivers)
    print(text)  # the figures, with -s or on failure
    assert ok, text
    for result in results:
        assert result.passed > 0, result
        for check_id, resource in FIXED:
            assert not [f for f in result.failed if f.check_id == check_id and f.resource.startswith(resource)], (
                check_id,
                resource,
            )
