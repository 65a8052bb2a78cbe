"""The router every service declares its routes on, and the two rules it holds each route to as it is added:

- Handlers are coroutines. A sync handler (or a sync dependency) costs a hop to a worker thread and back
  on every request; everything a request does is awaited on the event loop instead.
- A route that answers with a body declares its response model, a pydantic model, and FastAPI filters what
  the handler returns through it: an ORM row returned under `UserRead` sends UserRead's fields, never
  `password_hash`. Without one (only 204s, which have no body), or with `Any` or `dict`, it would send
  whatever the handler returned."""

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, status
from fastapi.routing import APIRoute
from pydantic import BaseModel


class RouteRuleBroken(TypeError):
    """A route was declared against the rules above."""


class ServiceRouter(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            raise RouteRuleBroken(f"{endpoint.__qualname__} must be `async def`")
        super().add_api_route(path, endpoint, **kwargs)
        route = self.routes[-1]
        assert isinstance(route, APIRoute)
        if route.status_code != status.HTTP_204_NO_CONTENT and not filters_its_body(route):
            raise RouteRuleBroken(f"{endpoint.__qualname__} must declare the pydantic model it answers with")


def filters_its_body(route: APIRoute) -> bool:
    """Whether FastAPI sends only the fields of a declared pydantic model, whatever the handler returns."""
    model = route.response_model
    return isinstance(model, type) and issubclass(model, BaseModel)
