"""The CDK app: one stack for one stage.

Run by the cdk CLI (`infra/cdk.json`: `cdk deploy -c stage=prod`), or directly to synthesise offline, with no AWS
credentials and no CLI:

    .venv/bin/python infra/app.py -c stage=prod [-c key=value ...] [--output infra/cdk.out]

Context keys are listed in infra/config.py. Without an account and region from the CLI (CDK_DEFAULT_ACCOUNT and
CDK_DEFAULT_REGION) the stack is environment-agnostic: the template refers to AWS::Region and AWS::AccountId.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a script (by the cdk CLI) from infra/
    sys.path.insert(0, str(PROJECT_ROOT))

# jsii warns on every run that this machine's Node (20) is past its end of life; say so once, in the README.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402

from infra.config import ConfigError, StageConfig, load_config  # noqa: E402
from infra.stack import SmsOptoutStack  # noqa: E402

DEFAULT_REGION = "us-east-1"


def build(app: cdk.App, chalice_workdir: Path, environ: Mapping[str, str] = os.environ) -> SmsOptoutStack:
    """Add the stage's stack to `app`; its construct id is the stage (which Chalice uses as its stage name)."""
    config: StageConfig = load_config(app.node.try_get_context, environ)
    account, region = environ.get("CDK_DEFAULT_ACCOUNT"), environ.get("CDK_DEFAULT_REGION")
    # `chalice package` builds a botocore session: it needs a region, never credentials.
    os.environ.setdefault("AWS_DEFAULT_REGION", region or DEFAULT_REGION)
    return SmsOptoutStack(
        app,
        config.stage,
        config=config,
        chalice_workdir=chalice_workdir,
        stack_name=config.prefix,
        description=f"SMS opt-out service, stage {config.stage}",
        env=cdk.Environment(account=account, region=region) if account and region else None,
        termination_protection=config.production,
    )


def synthesize(context: Mapping[str, Any] | None = None, outdir: str | Path | None = None) -> tuple[Path, dict]:
    """Synthesise one stage into `outdir` (the CLI's CDK_OUTDIR, else infra/cdk.out); returns the template's path
    and the template. `chalice package`'s own output goes to a temporary directory, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="chalice-"))
    try:
        app = cdk.App(context=dict(context or {}), outdir=str(outdir) if outdir is not None else None)
        stack = build(app, workdir)
        assembly = app.synth()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    template_path = Path(assembly.directory) / stack.template_file
    return template_path, json.loads(template_path.read_text())


def _parse(argv: Sequence[str]) -> tuple[dict[str, str], str | None]:
    parser = argparse.ArgumentParser(description="Synthesise the stack (the cdk CLI passes no arguments).")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-o", "--output", help="the cloud assembly directory (default: $CDK_OUTDIR or cdk.out)")
    args = parser.parse_args(argv)
    context: dict[str, str] = {}
    for item in args.context:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"context {item!r}: use KEY=VALUE")
        context[key] = value
    return context, args.output


def main(argv: Sequence[str] | None = None) -> None:
    context, output = _parse(sys.argv[1:] if argv is None else argv)
    try:
        template_path, _ = synthesize(
            context, output or os.environ.get("CDK_OUTDIR") or PROJECT_ROOT / "infra" / "cdk.out"
        )
    except ConfigError as error:  # a context value to fix: say which, without a traceback
        sys.exit(f"infra/app.py: {error}")
    if not os.environ.get("CDK_OUTDIR"):  # run by hand, not by the CLI
        print(f"template: {template_path}")


if __name__ == "__main__":
    main()
