"""The interactive docs, whole from the replica: Swagger UI's files come from the kept `fastapi-swagger`
package, not a CDN, so the page works on an air-gapped cluster or a laptop on a plane. Served under the
service's API prefix, so the public gateway routes the page and its assets like the API itself."""

from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

_ASSETS = resources.files("fastapi_swagger.resources")
# The files a page needs, and how they are sent; they change only with the package, so caches may keep them.
_MEDIA_TYPES = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_CACHE = "public, max-age=86400"


def install_docs(app: FastAPI, *, api_prefix: str, openapi_url: str) -> None:
    """`{api_prefix}/docs`: Swagger UI on `openapi_url`, its scripts, styles and icon from this replica."""
    docs_url = f"{api_prefix}/docs"
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title}: API docs",
        swagger_js_url=f"{docs_url}/swagger-ui-bundle.js",
        swagger_css_url=f"{docs_url}/swagger-ui.css",
        swagger_favicon_url=f"{docs_url}/favicon-32x32.png",
    ).body

    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page)

    app.add_api_route(docs_url, docs_page, methods=["GET"], include_in_schema=False)
    for name, media_type in _MEDIA_TYPES.items():
        app.add_api_route(f"{docs_url}/{name}", _asset(name, media_type), methods=["GET"], include_in_schema=False)


def _asset(name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
    """The asset, read on its first request and kept: a replica whose docs nobody opens does not hold the
    1.6 MB of Swagger UI."""

    @cache
    def body() -> bytes:
        return (_ASSETS / name).read_bytes()

    async def asset() -> Response:
        return Response(body(), media_type=media_type, headers={"Cache-Control": _CACHE})

    return asset
