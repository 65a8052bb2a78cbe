"""`is_deadlock` tells a MySQL deadlock victim (safe to retry) from every other database error."""

import pymysql
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from service_kit.db.errors import is_deadlock


class TestIsDeadlock:
    def test_mysql_deadlock_is_one(self):
        error = pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")
        assert is_deadlock(OperationalError("UPDATE ...", {}, error))

    @pytest.mark.parametrize(
        "error",
        [
            pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
            pymysql.err.OperationalError(2003, "Can't connect"),
            pymysql.err.IntegrityError(1062, "Duplicate entry"),
            Exception("no mysql code at all"),
        ],
        ids=["lock-wait-timeout", "unreachable", "duplicate", "no-code"],
    )
    def test_other_errors_are_not(self, error):
        wrapper = IntegrityError if isinstance(error, pymysql.err.IntegrityError) else OperationalError
        assert not is_deadlock(wrapper("UPDATE ...", {}, error))
