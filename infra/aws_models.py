"""botocore's data trimmed to what the service uses, for the bundle (`botocore_models/` in it).

A cold start builds a DynamoDB, an SSM and an SQS client, and most of what that costs is parsing botocore's JSON:
each service's whole model (the SSM model is about 2 MB, DynamoDB's 0.6 MB) and `endpoints.json` (1.2 MB, every
service in every region). The bundle carries them trimmed:

- the models of the services in `TRIMMED_OPERATIONS` with only those operations and the shapes they reach, without
  documentation;
- `endpoints.json` with every partition as it is, but only the services the service builds clients for
  (`CLIENT_SERVICES`, by their endpoint prefix);
- `botocore-version`: the botocore they were trimmed from. The runtime uses them only from a botocore at least as new
  (chalicelib/adapters/service_models.py).

Everything is read from the botocore installed here (the one the tests run with, requirements-dev.txt).
"""

from __future__ import annotations

import json
from typing import Any

import botocore
from botocore.loaders import Loader

from chalicelib.adapters.service_models import CLIENT_SERVICES, TRIMMED_OPERATIONS, VERSION_FILE

#: The bundle's folder of trimmed data (the task root's `botocore_models`: service_models.BUNDLED_MODELS).
FOLDER = "botocore_models"


def trimmed_files() -> dict[str, bytes]:
    """The trimmed data as bundle entries: path in the zip -> bytes."""
    loader = Loader()
    files = {f"{FOLDER}/{VERSION_FILE}": botocore.__version__.encode()}
    for service, operations in TRIMMED_OPERATIONS.items():
        model = trim_model(loader.load_service_model(service, "service-2"), operations)
        files[f"{FOLDER}/{service}/{model['metadata']['apiVersion']}/service-2.json"] = _dump(model)
    prefixes = {
        loader.load_service_model(service, "service-2")["metadata"]["endpointPrefix"] for service in CLIENT_SERVICES
    }
    files[f"{FOLDER}/endpoints.json"] = _dump(trim_endpoints(loader.load_data("endpoints"), prefixes))
    return files


def trim_model(model: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """`model` with only `operations` and the shapes their inputs, outputs and errors reach, without documentation."""
    missing = set(operations) - set(model["operations"])
    if missing:
        raise ValueError(f"{model['metadata']['serviceId']} has no operation {', '.join(sorted(missing))}")
    shapes = model["shapes"]
    reached: set[str] = set()

    def reach(name: str) -> None:
        if name in reached:
            return
        reached.add(name)
        shape = shapes[name]
        for key in ("member", "key", "value"):
            if key in shape:
                reach(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            reach(member["shape"])

    kept = {}
    for name in operations:
        operation = _undocumented(model["operations"][name])
        for key in ("input", "output"):
            if key in operation:
                reach(operation[key]["shape"])
        for error in operation.get("errors", ()):
            reach(error["shape"])
        kept[name] = operation
    return {
        **{key: value for key, value in model.items() if key not in ("operations", "shapes", "documentation")},
        "operations": kept,
        "shapes": {name: _undocumented(shapes[name]) for name in sorted(reached)},
    }


def trim_endpoints(endpoints: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """`endpoints.json` with each partition whole but its services only those of `prefixes`."""
    return {
        **endpoints,
        "partitions": [
            {
                **partition,
                "services": {name: data for name, data in partition["services"].items() if name in prefixes},
            }
            for partition in endpoints["partitions"]
        ],
    }


def _undocumented(value: Any) -> Any:
    if isinstance(value, dict):
        # A documentation string, not a member that happens to be called so.
        return {
            key: _undocumented(item)
            for key, item in value.items()
            if not (key == "documentation" and isinstance(item, str))
        }
    if isinstance(value, list):
        return [_undocumented(item) for item in value]
    return value


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
