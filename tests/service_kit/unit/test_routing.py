"""The rules `ServiceRouter` holds every route of every service to: coroutine handlers and dependencies (no hop
to a worker thread), and a declared response model that filters what the handler returns."""

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from service_kit.routing import RouteRuleBroken, ServiceRouter, filters_its_body


def service_routes(app: FastAPI) -> list[tuple[APIRoute, list[Callable[..., Any]]]]:
    """Every route a service declares, with the dependencies its router was included with (FastAPI keeps an
    included router whole, as `original_router` under its `include_context`)."""
    found: list[tuple[APIRoute, list[Callable[..., Any]]]] = []
    for included in app.routes:
        router = getattr(included, "original_router", None)
        if router is None:
            continue
        extra = [depends.dependency for depends in included.include_context.dependencies]  # type: ignore[attr-defined]
        found.extend((route, extra) for route in router.routes if isinstance(route, APIRoute))
    return found


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from dependency_calls(dependency)


def calls_of(route: APIRoute, extra: list[Callable[..., Any]]) -> Iterator[Callable[..., Any]]:
    """The handler, and every dependency it runs, its router's included."""
    yield route.endpoint
    yield from dependency_calls(route.dependant)
    for dependency in extra:
        yield dependency
        yield from dependency_calls(get_dependant(path=route.path_format, call=dependency))


def is_coroutine(call: Callable[..., Any]) -> bool:
    """A coroutine function, or an instance whose `__call__` is one (FastAPI's security schemes)."""
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)


class TestEveryRouteOfEveryService:
    def test_every_document_states_how_long_an_issued_token_is_honoured(self, apps):
        assert all("15 minutes by default" in app.openapi()["info"]["description"] for app in apps)

    def test_a_405_allows_exactly_the_methods_the_documents_give_its_path(self, apps):
        checked = 0
        for app in apps:
            documents = app.state.openapi_documents
            client = TestClient(app)
            for document in (documents.public(), documents.internal()):
                for template, operations in document["paths"].items():
                    path = re.sub(r"\{[^}]+\}", "1", template)
                    documented = sorted(method.upper() for method in operations)
                    wrong = next(m for m in ("DELETE", "PUT", "PATCH", "POST", "GET") if m not in documented)
                    response = client.request(wrong, path)
                    assert response.status_code == 405, (wrong, path, response.text)
                    assert response.headers["allow"] == ", ".join(documented), (wrong, path)
                    checked += 1
        assert checked >= 20

    def test_there_are_routes_to_check(self, apps):
        # Each service's own routes, plus /healthz and /readyz.
        assert [len(service_routes(app)) for app in apps] == [10, 11, 6]

    def test_handlers_and_their_dependencies_are_coroutines(self, apps):
        sync = [
            f"{route.path} {call}"
            for app in apps
            for route, extra in service_routes(app)
            for call in calls_of(route, extra)
            if not is_coroutine(call)
        ]
        assert sync == []

    def test_every_route_with_a_body_filters_it_through_its_response_model(self, apps):
        unfiltered = [
            f"{route.methods} {route.path}"
            for app in apps
            for route, _ in service_routes(app)
            if route.status_code != 204 and not filters_its_body(route)
        ]
        assert unfiltered == []


class _Row:
    """What an ORM row looks like to FastAPI: attributes, the secret among them."""

    def __init__(self) -> None:
        self.id = 1
        self.email = "a@example.com"
        self.password_hash = "$argon2id$secret"


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str


class TestServiceRouter:
    def test_a_row_returned_under_a_model_sends_only_the_models_fields(self):
        router = ServiceRouter()

        @router.get("/row", response_model=_Public)
        async def row() -> Any:
            return _Row()

        app = FastAPI()
        app.include_router(router)
        assert TestClient(app).get("/row").json() == {"id": 1, "email": "a@example.com"}

    def test_a_sync_handler_is_refused(self):
        router = ServiceRouter()
        with pytest.raises(RouteRuleBroken):

            @router.get("/sync", response_model=_Public)
            def sync() -> Any:
                return _Row()

    def test_a_route_with_a_body_but_no_model_is_refused(self):
        router = ServiceRouter()
        with pytest.raises(RouteRuleBroken):

            @router.get("/untyped")
            async def untyped() -> Any:
                return _Row()

    def test_a_sync_dependency_is_caught_by_the_fleet_check(self):
        def sync_dependency() -> int:
            return 1

        router = ServiceRouter()

        @router.get("/dep", response_model=_Public)
        async def dep(value: int = Depends(sync_dependency)) -> Any:
            return _Row()

        [route] = [route for route in router.routes if isinstance(route, APIRoute)]
        assert not all(is_coroutine(call) for call in calls_of(route, []))
