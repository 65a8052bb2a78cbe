"""Every product route documents what it returns, and the internal ones the credential they need."""

import pytest
from fastapi.routing import APIRoute

from product_service.config import Settings
from product_service.main import create_app
from product_service.routes import internal, public


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(Settings(APP_ENV="test", DB_HOST=None, VAR_DIR=tmp_path_factory.mktemp("var")))


def _service_routes() -> list[APIRoute]:
    routers = (public.open_router, public.router, internal.router)
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) == 9
    return routes


class TestRoutes:
    def test_every_route_with_a_body_documents_its_model(self, app):
        documents = app.state.openapi_documents
        for route in _service_routes():
            document = documents.internal() if route.path.startswith("/internal/") else documents.public()
            for method in route.methods or ():
                if route.status_code == 204:
                    continue
                answer = document["paths"][route.path][method.lower()]["responses"][str(route.status_code or 200)]
                assert "$ref" in str(answer["content"]["application/json"]["schema"]), (method, route.path)

    def test_internal_routes_document_the_service_credential(self, app):
        document = app.state.openapi_documents.internal()
        internal = {path: operations for path, operations in document["paths"].items() if path.startswith("/internal/")}
        assert len(internal) == 3
        for operations in internal.values():
            for operation in operations.values():
                assert {"ServiceToken"} <= {name for scheme in operation["security"] for name in scheme}

    def test_the_public_document_holds_the_public_api_only(self, app):
        assert all(path.startswith("/api/v0/products") for path in app.openapi()["paths"])
        assert {"/healthz", "/readyz"} <= set(app.state.openapi_documents.internal()["paths"])
