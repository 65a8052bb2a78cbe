"""Both documents of every service: errors documented in the envelope, the common ones everywhere they
apply, and nothing of FastAPI's own 422 schema (the services never send it)."""

from typing import Any

import pytest

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def operations(app) -> list[tuple[str, str, str, dict[str, Any]]]:
    documents = app.state.openapi_documents
    found: list[tuple[str, str, str, dict[str, Any]]] = []
    for kind, document in (("public", documents.public()), ("internal", documents.internal())):
        for path, methods in document["paths"].items():
            found.extend((kind, path, method, operation) for method, operation in methods.items())
    return found


def test_every_error_an_operation_documents_is_the_envelope(apps):
    for app in apps:
        for kind, path, method, operation in operations(app):
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == ENVELOPE, (kind, method, path, status)
                    assert response["description"], (kind, method, path, status)


def test_the_common_errors_are_documented_wherever_they_apply(apps):
    for app in apps:
        for kind, path, method, operation in operations(app):
            statuses = set(operation["responses"])
            where = (kind, method, path)
            assert "503" in statuses, where
            if operation.get("security"):
                assert "401" in statuses, where
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in statuses, where
            if operation.get("requestBody"):
                assert "400" in statuses, where
            assert ("429" in statuses) == ("414" in statuses) == (kind == "public"), where
            if kind == "public" and operation.get("requestBody"):
                assert "413" in statuses, where
            assert "Retry-After" in operation["responses"]["503"]["headers"], where


def test_fastapis_own_validation_schema_is_nowhere(apps):
    for app in apps:
        documents = app.state.openapi_documents
        assert "HTTPValidationError" not in str(documents.public()) + str(documents.internal())


@pytest.mark.parametrize(
    ("service", "method", "path", "statuses"),
    [
        ("product_service", "put", "/api/v0/products/{product_id}", {"403", "404", "409", "412", "428"}),
        ("product_service", "get", "/api/v0/products/{product_id}", {"304", "404"}),
        ("product_service", "post", "/internal/reservations", {"403", "409", "422"}),
        ("order_service", "post", "/api/v0/orders", {"409", "422"}),
        ("order_service", "post", "/api/v0/orders/{order_id}/cancel", {"404", "409"}),
        ("auth_service", "post", "/api/v0/auth/login", {"401", "429", "503"}),
        ("auth_service", "post", "/api/v0/auth/register", {"409", "503"}),
    ],
)
def test_each_route_documents_the_errors_it_raises(apps, service, method, path, statuses):
    [app] = [app for app in apps if app.title == service]
    documents = app.state.openapi_documents
    document = documents.internal() if path.startswith("/internal/") else documents.public()
    assert statuses <= set(document["paths"][path][method]["responses"])
