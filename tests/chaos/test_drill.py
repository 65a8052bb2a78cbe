"""The short drill inside `make test`: the same drill as `make chaos`, 120 s by default (CHAOS_SECONDS)."""

import os

import pytest

from tests.chaos.drill import Knobs, run

pytestmark = pytest.mark.fleet


def test_clients_notice_nothing_while_replicas_die(capsys: pytest.CaptureFixture[str]) -> None:
    verdict = run(Knobs(seconds=float(os.environ.get("CHAOS_SECONDS", "120"))), say=lambda line: None)
    with capsys.disabled():
        print(f"\n{verdict.report()}")
    assert verdict.passed, verdict.report()
