"""The docs page names only files the replica itself serves (tests/fleet draws it in a real browser)."""

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from service_kit.docs import install_docs


def test_the_page_and_every_file_it_names_come_from_the_replica():
    app = FastAPI(title="things", openapi_url="/api/v0/things/openapi.json", docs_url=None)
    install_docs(app, api_prefix="/api/v0/things", openapi_url="/api/v0/things/openapi.json")
    client = TestClient(app)
    page = client.get("/api/v0/things/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    named = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
    urls = {first or second for first, second in named}
    assert urls and not [url for url in urls if not url.startswith("/api/v0/things/")]
    types = {url: client.get(url) for url in urls}
    assert all(response.status_code == 200 and response.content for response in types.values())
    assert types["/api/v0/things/docs/swagger-ui-bundle.js"].headers["content-type"] == "application/javascript"
    assert types["/api/v0/things/docs/swagger-ui.css"].headers["content-type"].startswith("text/css")
