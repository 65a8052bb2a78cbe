"""Two OpenAPI documents per service: the public one (`{api_prefix}/openapi.json`, what the gateway routes)
holds only the API under the prefix; `/internal/openapi.json` holds the rest (health, readiness and the
service-to-service endpoints), for the fleet's own callers. Each keeps only the schemas its paths use."""

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from service_kit.errors import ErrorEnvelope

INTERNAL_OPENAPI_URL = "/internal/openapi.json"
_SCHEMA_REF = "#/components/schemas/"


class Documents:
    """The two documents of one app, built once from its routes on first use."""

    def __init__(self, app: FastAPI, *, api_prefix: str) -> None:
        self._app = app
        self._api_prefix = api_prefix
        self._built: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._templates: list[tuple[re.Pattern[str], set[str]]] | None = None

    def public(self) -> dict[str, Any]:
        return self._documents()[0]

    def internal(self) -> dict[str, Any]:
        return self._documents()[1]

    def allowed_methods(self, path: str) -> list[str]:
        """Every method some operation of either document takes at `path`: what a 405's Allow must list.
        Starlette names only the methods of the first route whose path matched."""
        if self._templates is None:
            self._templates = [
                (_template_pattern(template), {method.upper() for method in operations})
                for document in self._documents()
                for template, operations in document["paths"].items()
            ]
        return sorted({method for pattern, methods in self._templates if pattern.fullmatch(path) for method in methods})

    def _is_public(self, path: str) -> bool:
        return path == self._api_prefix or path.startswith(f"{self._api_prefix}/")

    def _documents(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._built is None:
            app = self._app
            full = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            _document_common_errors(full, public=self._is_public)
            internal = _only(full, lambda path: not self._is_public(path))
            internal["info"] = {**full["info"], "title": f"{app.title} (internal)"}
            self._built = _only(full, self._is_public), internal
        return self._built


def split_documents(app: FastAPI, *, api_prefix: str) -> Documents:
    """Make `app.openapi()` the public document and serve the internal one at INTERNAL_OPENAPI_URL."""
    documents = Documents(app, api_prefix=api_prefix)

    async def internal_document() -> JSONResponse:
        return JSONResponse(documents.internal())

    app.openapi = documents.public  # type: ignore[method-assign]
    app.add_api_route(INTERNAL_OPENAPI_URL, internal_document, methods=["GET"], include_in_schema=False)
    return documents


# What any operation may answer besides what its route declares (error_responses), by what it takes.
_UNAUTHORIZED = "`unauthorized`: no access token, or one that is invalid, expired or of the wrong type."
_UNPARSEABLE = "`bad_request`: the body is not JSON (or not UTF-8)."
_INVALID = "`validation_error`: a parameter or body field is missing or invalid; `details.fields` names each."
_UNAVAILABLE = (
    "`service_unavailable` or `dependency_unavailable`: the database or a service this one depends on did not "
    "answer; try again (a write with its Idempotency-Key or If-Match)."
)
_URI_TOO_LONG = "`uri_too_long`: the gateway reads request lines of up to 8 KiB."
_BODY_TOO_LARGE = "`payload_too_large`: the gateway takes bodies of up to 1 MiB (`details.max_bytes`)."
_RATE_LIMITED = "`rate_limited`: the gateway's limit for this client address (docs/configuration.md)."
_ENVELOPE = {"application/json": {"schema": {"$ref": f"{_SCHEMA_REF}ErrorEnvelope"}}}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again; `details.retry_after_seconds` says the same.",
        "schema": {"type": "integer"},
    }
}


def _document_common_errors(document: dict[str, Any], *, public: Callable[[str], bool]) -> None:
    """Every operation documents the errors every route can answer, in the envelope: 400 where it takes a
    body, 401 where it needs a credential, 422 where it takes parameters or a body, 503 everywhere; from the
    gateway, on what it routes, 414 and 429, and 413 where there is a body; Retry-After on 429 and 503."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    envelope = ErrorEnvelope.model_json_schema(ref_template=f"{_SCHEMA_REF}{{model}}")
    for name, schema in envelope.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemas.setdefault("ErrorEnvelope", envelope)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if public(path):
                _add(responses, "414", _URI_TOO_LONG)
                _add(responses, "429", _RATE_LIMITED)
                if operation.get("requestBody"):
                    _add(responses, "413", _BODY_TOO_LARGE)
            if operation.get("security"):
                _add(responses, "401", _UNAUTHORIZED)
            if operation.get("requestBody"):
                _add(responses, "400", _UNPARSEABLE)
            if operation.get("parameters") or operation.get("requestBody"):
                declared = responses.get("422", {})
                # FastAPI's own 422 schema is not what the services send: the envelope replaces it.
                if "HTTPValidationError" in str(declared):
                    responses.pop("422")
                _add(responses, "422", _INVALID)
            _add(responses, "503", _UNAVAILABLE)
            for status in ("429", "503"):
                if status in responses:
                    responses[status].setdefault("headers", {}).update(_RETRY_AFTER)


def _add(responses: dict[str, Any], status: str, description: str) -> None:
    """Document `status` with the envelope, adding `description` to what the route already said of it."""
    entry = responses.setdefault(status, {"description": ""})
    if description not in entry["description"]:
        entry["description"] = f"{entry['description']} {description}".strip()
    entry["content"] = _ENVELOPE


def _only(full: dict[str, Any], keep: Callable[[str], bool]) -> dict[str, Any]:
    """`full` with the paths `keep` accepts, and the component schemas those reach (directly or not)."""
    paths = {path: operations for path, operations in full.get("paths", {}).items() if keep(path)}
    schemas = full.get("components", {}).get("schemas", {})
    wanted: set[str] = set()
    pending = list(_schema_refs(paths))
    while pending:
        name = pending.pop()
        if name not in wanted and name in schemas:
            wanted.add(name)
            pending.extend(_schema_refs(schemas[name]))
    document = {**full, "paths": paths}
    components = {**full.get("components", {}), "schemas": {name: schemas[name] for name in sorted(wanted)}}
    document["components"] = {key: value for key, value in components.items() if value}
    if not document["components"]:
        del document["components"]
    return document


def _template_pattern(template: str) -> re.Pattern[str]:
    """`/api/v0/products/{product_id}` -> a pattern matching any one segment where the parameter is."""
    parts = re.split(r"\{[^}/]+\}", template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def _schema_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMA_REF):
                yield value.removeprefix(_SCHEMA_REF)
            else:
                yield from _schema_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_refs(item)
