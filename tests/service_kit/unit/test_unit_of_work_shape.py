"""One owner of every transaction: `service_kit.db.unit_of_work.Database` begins, commits and rolls back; the
services' code never does (it runs units of work through `Database.run` and `Database.read`)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("auth_service", "product_service", "order_service")
TRANSACTION_CALLS = {"commit", "rollback", "begin", "begin_nested", "close", "invalidate"}
# Alembic's own transactions, in the migration scripts, are Alembic's business.
NOT_REQUEST_CODE = "migrations"


def service_modules() -> list[Path]:
    return [
        path
        for service in SERVICES
        for path in sorted((REPO / service).rglob("*.py"))
        if NOT_REQUEST_CODE not in path.relative_to(REPO).parts
    ]


def transaction_calls(source: str) -> list[str]:
    """Each `<session>.commit()` (rollback, begin, ...) in the source, as `line: call`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.unparse(node.func.value)
            if node.func.attr in TRANSACTION_CALLS and "session" in receiver:
                found.append(f"{node.lineno}: {receiver}.{node.func.attr}()")
    return found


def test_there_is_service_code_to_check():
    assert len(service_modules()) > 20


@pytest.mark.parametrize("path", service_modules(), ids=lambda path: str(path.relative_to(REPO)))
def test_no_service_code_ends_or_opens_a_transaction(path):
    assert transaction_calls(path.read_text()) == []


def test_the_check_sees_a_commit_behind_the_callers_back():
    sneaky = "async def rule(session):\n    async with session.begin_nested():\n        await session.commit()\n"
    assert transaction_calls(sneaky) == ["2: session.begin_nested()", "3: session.commit()"]
