"""botocore's model loader, listing the services it has models for by their folders' names.

Before it reads a service's model, botocore's `Loader.list_available_services` lists every service it has a model of
that type for, to check that the one asked for is among them: it opens each of some 400 service folders and looks
for the model file in every API version's folder, once for service models and once for endpoint rules: about 20 ms
of the first client a cold start builds (BENCHMARKS "Cold start": the DynamoDB client took 45 ms before, 27-31 after).
A service's folder bears its name, so `ServiceLoader` lists the folders alone (one directory read per search path).
What differs: a folder without a model of the type asked for is listed too, and a client for it fails when its model
is read (`DataNotFoundError`) rather than when it is looked up (`UnknownServiceError`). Everything else is
botocore's own.

The deployed bundle also carries some of botocore's data trimmed to what the service uses (`botocore_models/`,
written by infra/aws_models.py): the models of the clients every webhook builds (DynamoDB, SSM, SQS) with only the
operations in TRIMMED_OPERATIONS, and `endpoints.json` with only the services in CLIENT_SERVICES. Parsing the full
files is most of what building those clients costs (the SSM model alone is about 2 MB of JSON, `endpoints.json`
1.2 MB). The folder comes after AWS_DATA_PATH's and before botocore's own, as AWS_DATA_PATH's models do, and is used
only by a botocore at least as new as the one that wrote it (its `botocore-version`): an older one may not read a
newer model, and gets its own full models instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import botocore
from botocore.loaders import Loader

#: The services the service builds clients for (chalicelib/wiring.py): `endpoints.json` is trimmed to these.
CLIENT_SERVICES = ("dynamodb", "ssm", "sqs", "sesv2", "s3", "events", "pinpoint-sms-voice-v2")
#: The operations the service calls on the clients every cold start builds, by service: their models are trimmed to
#: these. tests/infra/test_aws_models.py checks the code calls nothing else of theirs.
TRIMMED_OPERATIONS = {
    "dynamodb": ("BatchGetItem", "GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"),
    "ssm": ("GetParameter", "PutParameter"),
    "sqs": ("ChangeMessageVisibility", "SendMessage", "SendMessageBatch"),
}
#: Where the bundle carries the trimmed data (the task root: /var/task/botocore_models in Lambda).
BUNDLED_MODELS = Path(__file__).resolve().parent.parent.parent / "botocore_models"
#: The file in it that names the botocore version whose data it was trimmed from.
VERSION_FILE = "botocore-version"


class ServiceLoader(Loader):  # type: ignore[misc]
    """botocore's Loader, but for how it lists services (botocore has no type hints: hence the ignore)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._services: list[str] | None = None

    def list_available_services(self, type_name: str) -> list[str]:
        """Every service folder on the search paths (names without a dot or a leading `_`: files such as
        `endpoints.json` and `_retry.json` are not services), whatever models it holds."""
        if self._services is None:
            names: set[str] = set()
            for path in self.search_paths:
                try:
                    names.update(name for name in os.listdir(path) if "." not in name and not name.startswith("_"))
                except OSError:  # a search path that does not exist (~/.aws/models, usually)
                    continue
            self._services = sorted(names)
        return self._services


def use_service_loader(session: Any, bundled: Path = BUNDLED_MODELS) -> None:
    """Make `session` (a botocore Session not yet used) read models through a ServiceLoader, on the same search paths
    botocore's own loader would use (its built-in models, ~/.aws/models and AWS_DATA_PATH's folders), with the
    bundle's trimmed data after AWS_DATA_PATH's when this botocore may read it."""
    data_path = session.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else []
    if readable(bundled):
        extra.append(str(bundled))
    session.register_component("data_loader", ServiceLoader(extra_search_paths=extra))


def readable(bundled: Path) -> bool:
    """Whether `bundled` holds trimmed data this botocore may read: written from this botocore's version or an older
    one (a newer model may use what an older botocore does not know)."""
    try:
        written = (bundled / VERSION_FILE).read_text().strip()
    except OSError:  # no trimmed data: the source tree, tests, `make run`
        return False
    return _version(written) <= _version(botocore.__version__)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())
