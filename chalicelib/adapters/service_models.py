"""botocore's model loader, listing the services it has models for by their folders' names.

Before it reads a service's model, botocore's `Loader.list_available_services` lists every service it has a model of
that type for, to check that the one asked for is among them: it opens each of some 400 service folders and looks
for the model file in every API version's folder, once for service models and once for endpoint rules: about 20 ms
of the first client a cold start builds (BENCHMARKS "Cold start": the DynamoDB client took 45 ms before, 27-31 after).
A service's folder bears its name, so `ServiceLoader` lists the folders alone (one directory read per search path).
What differs: a folder without a model of the type asked for is listed too, and a client for it fails when its model
is read (`DataNotFoundError`) rather than when it is looked up (`UnknownServiceError`). Everything else is
botocore's own.
"""

from __future__ import annotations

import os
from typing import Any

from botocore.loaders import Loader


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


def use_service_loader(session: Any) -> None:
    """Make `session` (a botocore Session not yet used) read models through a ServiceLoader, on the same search paths
    botocore's own loader would use (its built-in models, ~/.aws/models and AWS_DATA_PATH's folders)."""
    data_path = session.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else []
    session.register_component("data_loader", ServiceLoader(extra_search_paths=extra))
