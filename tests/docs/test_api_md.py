"""docs/API.md is the contract; each service's public OpenAPI document is generated from its routes. Where the
two speak of the same thing they must agree: every endpoint of API.md's tables is served, with the query
parameters, statuses and error codes its row names, and every public operation is in API.md."""

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}


def rows() -> list[tuple[str, str, set[str], str]]:
    """(method, path, query parameters, result cell) for each endpoint of API.md's tables. A cell may name
    more than one method for a path: "`PUT /api/v0/products/{id}` full body, `PATCH` partial"."""
    found = []
    for line in API_MD.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        path, query = "", set()
        for token in re.findall(r"`([^`]+)`", cells[0]):
            method, _, target = token.partition(" ")
            if method not in METHODS:
                continue
            if target.startswith("/"):
                path, _, params = target.partition("?")
                query = {name for name in re.findall(r"(\w+)=", params)}
            found.append((method, path, query, cells[-1]))
    return found


def normalised(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def operations(apps: list[FastAPI]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for app in apps:
        for path, methods in app.state.openapi_documents.public()["paths"].items():
            for method, operation in methods.items():
                found[(method.upper(), normalised(path))] = operation
    return found


def test_the_tables_are_read():
    assert len(rows()) == 18  # 8 auth, 6 product, 4 order: a table this test no longer sees would pass blindly


def test_every_public_operation_is_in_the_contract(apps):
    documented = {(method, normalised(path)) for method, path, _, _ in rows()}
    assert set(operations(apps)) - documented == set()


@pytest.mark.parametrize(("method", "path", "query", "result"), rows(), ids=lambda value: str(value)[:40])
def test_each_endpoint_is_served_as_the_contract_says(apps, method, path, query, result):
    operation = operations(apps).get((method, normalised(path)))
    assert operation is not None, f"{method} {path} is not served"
    parameters = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"}
    assert query <= parameters
    statuses = {int(status) for status in re.findall(r"\b([2-5]\d\d)\b", result)}
    assert statuses <= {int(status) for status in operation["responses"]}, f"{method} {path}"
    described = " ".join(response.get("description", "") for response in operation["responses"].values())
    codes = {code for code in re.findall(r"`([a-z]+(?:_[a-z]+)+|overloaded)`", result)}
    assert {code for code in codes if f"`{code}`" not in described} == set(), f"{method} {path}"
