"""The router every service declares its routes on: sync handlers answer after their transaction committed,
with no wait for a worker thread in between."""

import typing
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.datastructures import DefaultPlaceholder


class ServiceRouter(APIRouter):
    """Documents each route's response model in OpenAPI but never validates the handler's return against it.

    FastAPI validates a sync handler's return on a worker thread *before* the request's session commits.
    Under contention every worker can be blocked on a lock that transaction holds (a row on MariaDB, the
    whole file on SQLite), so the commit that would free them waits for a worker that never comes. Handlers
    return instances of their response model, so the JSON is the same; it is encoded on the event loop."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        model = kwargs.pop("response_model", None)
        if model is None or isinstance(model, DefaultPlaceholder):
            model = typing.get_type_hints(endpoint).get("return")
        if model is not None and not (isinstance(model, type) and issubclass(model, Response)):
            status_code = kwargs.get("status_code") or 200
            kwargs["responses"] = {status_code: {"model": model}, **(kwargs.get("responses") or {})}
        super().add_api_route(path, endpoint, response_model=None, **kwargs)
