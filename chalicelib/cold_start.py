"""A Lambda cold start without garbage collection.

What a cold start builds (modules, classes, the Chalice app, botocore's models and clients, pydantic's validators:
some 200,000 objects) lives as long as the function does. Collecting garbage while it is built finds next to nothing
and cost about a tenth of the cold start (about 30 ms of CPU in some 190 collections, one a full collection of 12
ms, before this module; BENCHMARKS "Cold start" counts them). So, in Lambda, collection is off from the app's first
import to the end of its first event; then what was built is frozen (moved out of every later collection's way, so a
full collection looks only at what later events allocate) and collection is on again. Elsewhere (tests, `make run`)
only the freeze after the first event happens.
"""

from __future__ import annotations

import gc
import os

_first_event_pending = True


def begin() -> None:
    """Called first thing by app.py: in Lambda (AWS_LAMBDA_FUNCTION_NAME is set), no collection until `end`."""
    if _first_event_pending and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        gc.disable()


def end() -> None:
    """After the first event (every later call does nothing): freeze what was built, collect again as usual."""
    global _first_event_pending
    if _first_event_pending:
        _first_event_pending = False
        gc.freeze()
        gc.enable()
