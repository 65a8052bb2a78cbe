"""A short, seeded `make fuzz` inside `make test`: the three documents, three callers, every check."""

from tests.fuzz.__main__ import fuzz
from tests.support.fleet import require_nginx


def test_schemathesis_finds_nothing_in_any_document_for_any_caller():
    require_nginx()
    runs = fuzz(examples=15, seed=1)
    assert len(runs) == 9
    failed = [f"{run.caller} {run.service}: {run.summary}\n{run.output[-3000:]}" for run in runs if not run.passed]
    assert not failed, "\n\n".join(failed)
