"""The clients' model loader: the same models as botocore's own loader, found without opening every service folder."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.loaders import Loader

from chalicelib.adapters.service_models import ServiceLoader, use_service_loader

SERVICES = ("dynamodb", "ssm", "sqs", "sesv2", "events", "s3", "pinpoint-sms-voice-v2")


@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1"])
def test_it_lists_every_service_botocore_lists_and_only_folders_besides(type_name: str) -> None:
    botocores, ours = Loader(), ServiceLoader()
    listed = set(botocores.list_available_services(type_name))
    assert listed <= set(ours.list_available_services(type_name))
    # What it lists besides are service folders that have no model of this type (none at all for service models)
    for extra in set(ours.list_available_services(type_name)) - listed:
        assert botocores.list_api_versions(extra, type_name) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_client_through_it_has_the_model_botocores_loader_reads(service: str) -> None:
    plain = botocore.session.Session()
    ours = botocore.session.Session()
    use_service_loader(ours)
    args = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "y"}
    theirs_model = plain.create_client(service, **args).meta.service_model
    our_model = ours.create_client(service, **args).meta.service_model
    assert our_model.api_version == theirs_model.api_version
    assert our_model.operation_names == theirs_model.operation_names


def test_an_unknown_service_is_still_refused() -> None:
    session = botocore.session.Session()
    use_service_loader(session)
    with pytest.raises((UnknownServiceError, DataNotFoundError)):
        session.create_client("no-such-service", region_name="us-east-1")


def test_models_on_aws_data_path_are_found_as_botocore_finds_them(tmp_path: Path, monkeypatch) -> None:
    # A folder named in AWS_DATA_PATH comes before botocore's own models, as with botocore's loader
    model = json.loads(json.dumps(Loader().load_service_model("sqs", "service-2")))
    model["metadata"]["documentation"] = "a local copy"
    version = model["metadata"]["apiVersion"]
    (tmp_path / "sqs" / version).mkdir(parents=True)
    (tmp_path / "sqs" / version / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = botocore.session.Session()
    use_service_loader(session)
    loaded = session.get_component("data_loader").load_service_model("sqs", "service-2")
    assert loaded["metadata"]["documentation"] == "a local copy"
