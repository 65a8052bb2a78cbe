from datetime import UTC, datetime, timedelta

import pytest

from auth_service.throttle import LoginPolicy

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def test_the_free_attempts_block_nothing_then_each_failure_doubles_the_wait_up_to_the_cap():
    policy = LoginPolicy(free_attempts=5, max_block_seconds=900, forget_after_seconds=3600)
    waits = [policy.blocked_until(failures, NOW) for failures in range(1, 18)]
    assert waits[:4] == [None] * 4
    seconds = [(until - NOW).total_seconds() for until in waits[4:] if until is not None]
    assert seconds == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]


def test_failures_are_forgotten_only_after_the_horizon():
    policy = LoginPolicy()
    assert not policy.forgotten(NOW - timedelta(seconds=3599), NOW)
    assert policy.forgotten(NOW - timedelta(seconds=3600), NOW)


def test_forgetting_before_a_block_ends_is_refused():
    with pytest.raises(ValueError, match="FORGET"):
        LoginPolicy(max_block_seconds=900, forget_after_seconds=600)
