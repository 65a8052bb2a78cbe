"""`Database.run` and `Database.read` on the real backends: what each sends to the server, that reads cannot
write, and that a unit whose connection died is repeated on a fresh one."""

import asyncio
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from service_kit.app import database_for
from service_kit.db.engine import create_async_db_engine
from service_kit.db.types import DatabaseUtcNow
from service_kit.db.unit_of_work import Database, transaction
from service_kit.errors import Overloaded, SearchTimedOut, ServiceUnavailable
from service_kit.settings import ServiceSettings
from tests.support.mariadb import connect, db_env, throwaway_database

READS = 100


class _Settings(ServiceSettings):
    name: str = "kit_db"

    def database_name(self) -> str:
        return self.name


@pytest.fixture(params=["mariadb", "sqlite"])
def settings(request, tmp_path) -> Iterator[_Settings]:
    if request.param == "sqlite":
        yield _Settings(VAR_DIR=tmp_path, DB_HOST=None)
        return
    with throwaway_database("kit_db") as name:
        yield _Settings(VAR_DIR=tmp_path, name=name, **db_env())


def on_database(settings: _Settings, scenario: Any) -> Any:
    """Run `scenario(database)` on a table `t` with one row, in an event loop of its own."""

    async def main() -> Any:
        database = database_for(settings)
        try:
            await database.run(_create_table)
            return await scenario(database)
        finally:
            await database.dispose()

    return asyncio.run(main())


async def _create_table(session: AsyncSession) -> None:
    await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
    await session.execute(text("INSERT INTO t (id, n) VALUES (1, 0)"))


async def _read_n(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT n FROM t WHERE id = 1"))).scalar_one())


async def _bump(session: AsyncSession) -> None:
    await session.execute(text("UPDATE t SET n = n + 1 WHERE id = 1"))


async def connection_counters(session: AsyncSession) -> dict[str, int]:
    """What the server counted on this unit's own connection so far (this statement included)."""
    names = "'Com_select', 'Com_update', 'Com_commit', 'Com_rollback', 'Questions'"
    rows = await session.execute(text(f"SHOW SESSION STATUS WHERE Variable_name IN ({names})"))
    return {name: int(value) for name, value in rows}


class TestWhatReachesTheServer:
    """Counted by the server on the one connection each pool has: nothing else the server does counts."""

    @pytest.fixture
    def settings(self, tmp_path) -> Iterator[_Settings]:
        with throwaway_database("kit_db") as name:
            yield _Settings(VAR_DIR=tmp_path, name=name, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, **db_env())

    def _sent(self, settings: _Settings, unit: Any, runner: str) -> dict[str, int]:
        async def scenario(database: Database) -> dict[str, int]:
            run = getattr(database, runner)
            before = await run(connection_counters)
            for _ in range(READS):
                await run(unit)
            after = await run(connection_counters)
            return {name: after[name] - before[name] for name in before}

        return on_database(settings, scenario)

    def test_a_read_is_one_statement_with_no_commit_or_rollback(self, settings):
        sent = self._sent(settings, _read_n, "read")
        # The second SHOW counts itself.
        assert sent == {
            "Com_select": READS,
            "Com_update": 0,
            "Com_commit": 0,
            "Com_rollback": 0,
            "Questions": READS + 1,
        }

    def test_a_write_is_its_statement_and_one_commit_with_no_rollback(self, settings):
        sent = self._sent(settings, _bump, "run")
        # Besides: the first counting unit's COMMIT, and the second SHOW.
        assert sent == {
            "Com_select": 0,
            "Com_update": READS,
            "Com_commit": READS + 1,
            "Com_rollback": 0,
            "Questions": 2 * READS + 2,
        }


class TestReads:
    def test_see_what_was_committed(self, settings):
        async def scenario(database: Database) -> int:
            await database.run(_bump)
            return await database.read(_read_n)

        assert on_database(settings, scenario) == 1

    def test_cannot_write(self, settings):
        async def scenario(database: Database) -> int:
            with pytest.raises(DBAPIError):
                await database.read(_bump)
            return await database.read(_read_n)

        assert on_database(settings, scenario) == 0


class TestErrorsKeepParametersOut:
    def test_a_failed_statement_names_no_parameter(self, settings):
        # The engine would put every parameter in the error's text (and so in the log): hashes, emails, tokens.
        secret = 918_273_645

        async def scenario(database: Database) -> str:
            async def duplicate(session: AsyncSession) -> None:
                await session.execute(text("INSERT INTO t (id, n) VALUES (1, :n)"), {"n": secret})

            with pytest.raises(DBAPIError) as failure:
                await database.run(duplicate)
            return str(failure.value)

        message = on_database(settings, scenario)
        assert "INSERT INTO t" in message and str(secret) not in message
        assert "hidden due to hide_parameters" in message


class TestUnitsOfWork:
    def test_a_refusal_leaves_nothing_written(self, settings):
        async def refused(session: AsyncSession) -> None:
            await _bump(session)
            raise LookupError("refused after writing")

        async def scenario(database: Database) -> int:
            with pytest.raises(LookupError):
                await database.run(refused)
            return await database.read(_read_n)

        assert on_database(settings, scenario) == 0

    def test_a_commit_on_refusal_keeps_its_writes(self, settings):
        @transaction(commit_on=(LookupError,))
        async def revoked(session: AsyncSession) -> None:
            await _bump(session)
            raise LookupError("refused, but what it wrote stands")

        async def scenario(database: Database) -> int:
            with pytest.raises(LookupError):
                await database.run(partial(revoked))
            return await database.read(_read_n)

        assert on_database(settings, scenario) == 1


class TestDeadConnections:
    @pytest.fixture
    def settings(self, tmp_path) -> Iterator[_Settings]:
        with throwaway_database("kit_db") as name:
            yield _Settings(VAR_DIR=tmp_path, name=name, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, **db_env())

    def test_a_unit_whose_connection_the_server_dropped_is_repeated_on_a_fresh_one(self, settings):
        async def scenario(database: Database) -> int:
            await database.run(_bump)
            await database.read(_read_n)
            _kill_every_connection_of(settings.name)  # a server restart, as far as the pools can tell
            await database.run(_bump)
            return await database.read(_read_n)

        assert on_database(settings, scenario) == 2

    @pytest.mark.parametrize("unit", ["read", "run"])
    def test_a_connection_that_could_not_be_opened_once_is_tried_again(self, settings, unit):
        # As a replica frozen past its connect timeout sees it: one failed connect, then the server answers.
        failures = ["Can't connect to MySQL server (timed out)"]

        async def scenario(database: Database) -> int:
            await database.dispose()  # the unit under test opens the first connection of its pool
            for engine in (database.engine, database._read_engine):
                event.listen(engine.sync_engine, "do_connect", _fail_first(failures))
            answer = await (database.read(_read_n) if unit == "read" else database.run(_read_n))
            assert failures == []  # the unit met the failed connect, and still answered
            return answer

        assert on_database(settings, scenario) == 0

    def test_a_database_that_cannot_be_reached_is_a_503_after_one_more_try(self, settings):
        attempts = []

        def never(dialect: Any, *_args: Any) -> None:
            attempts.append(1)
            raise dialect.loaded_dbapi.OperationalError(2003, "Can't connect to MySQL server (refused)")

        async def scenario(database: Database) -> None:
            await database.dispose()
            event.listen(database._read_engine.sync_engine, "do_connect", never)
            with pytest.raises(DBAPIError):
                await database.read(_read_n)

        on_database(settings, scenario)
        assert len(attempts) == 2

    def test_a_commit_whose_answer_never_came_is_a_503_and_is_not_repeated(self, settings):
        attempts = []

        async def bump_then_lose_the_connection(session: AsyncSession) -> None:
            attempts.append(1)
            await _bump(session)
            own_id = (await session.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
            with connect() as other, other.cursor() as cursor:
                cursor.execute(f"KILL {int(own_id)}")  # the commit that follows gets no answer

        async def scenario(database: Database) -> int:
            with pytest.raises(ServiceUnavailable):
                await database.run(bump_then_lose_the_connection)
            return await database.read(_read_n)

        assert on_database(settings, scenario) == 0
        assert attempts == [1]

    def test_a_unit_cut_off_by_its_timeout_leaves_no_answer_behind_for_the_next(self, settings: _Settings) -> None:
        """One connection per pool: had the cut-off one been reused as it was, the next unit would read the stale
        answer. (SQLAlchemy discards a connection whose statement was cancelled; this holds it to that.)"""
        url = settings.database_url()

        async def slow(session: AsyncSession) -> None:
            await session.execute(text("SELECT SLEEP(1)"))

        async def scenario() -> list[int]:
            database = Database(
                create_async_db_engine(url, pool_size=1, max_overflow=0, reset_on_return=False),
                read_engine=create_async_db_engine(url, pool_size=1, max_overflow=0, read_only=True),
                timeout=0.2,
            )
            try:
                await database.run(_create_table)
                seen = []
                for runner in (database.read, database.run):
                    with pytest.raises(ServiceUnavailable):
                        await runner(slow)
                    seen.append(await runner(_read_n))
                return seen
            finally:
                await database.dispose()

        assert asyncio.run(scenario()) == [0, 0]


def _fail_first(failures: list[str]) -> Any:
    """A do_connect listener that fails once for each of `failures` (the driver's error 2003 with that
    message), then lets connections open."""

    def connect(dialect: Any, *_args: Any) -> None:
        if failures:
            raise dialect.loaded_dbapi.OperationalError(2003, failures.pop())

    return connect


def _kill_every_connection_of(database_name: str) -> None:
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.PROCESSLIST WHERE db = %s", (database_name,))
        for (connection_id,) in cursor.fetchall():
            cursor.execute(f"KILL {int(connection_id)}")


def test_the_sqlite_files_stay_under_var(tmp_path):
    on_database(_Settings(VAR_DIR=tmp_path, DB_HOST=None), lambda database: database.read(_read_n))
    assert [path.name for path in Path(tmp_path).glob("*.sqlite3")] == ["kit_db.sqlite3"]


class TestSearches:
    """`Database.search`: a few connections of their own, each statement stopped at a time limit (MariaDB)."""

    @pytest.fixture
    def mariadb(self, tmp_path) -> Iterator[_Settings]:
        with throwaway_database("kit_db") as name:
            yield _Settings(
                VAR_DIR=tmp_path,
                name=name,
                SEARCH_POOL_SIZE=2,
                SEARCH_QUEUE_SECONDS=0.3,
                SEARCH_STATEMENT_SECONDS=0.3,
                **db_env(),
            )

    @staticmethod
    def sleeping(seconds: float) -> Any:
        async def sleep(session: AsyncSession) -> Any:
            return (await session.execute(text(f"SELECT SLEEP({seconds})"))).scalar_one()

        return sleep

    def test_a_statement_past_the_limit_is_a_503_search_timeout(self, mariadb):
        async def scenario(database: Database) -> None:
            started = asyncio.get_running_loop().time()
            with pytest.raises(SearchTimedOut) as refused:
                await database.search(self.sleeping(5))
            assert asyncio.get_running_loop().time() - started < 2
            assert refused.value.status_code == 503 and refused.value.headers["Retry-After"] == "1"
            assert await database.search(_read_n) == 0  # the connection serves the next search

        on_database(mariadb, scenario)

    def test_searches_past_the_pool_wait_their_turn_then_get_a_503(self, mariadb):
        async def scenario(database: Database) -> None:
            busy = [asyncio.create_task(database.search(self.sleeping(0.25))) for _ in range(2)]
            await asyncio.sleep(0.05)
            with pytest.raises(Overloaded):
                await database.search(self.sleeping(0.25))  # both connections stay busy past its 0.1 s wait
            await asyncio.gather(*busy)

        on_database(mariadb.model_copy(update={"SEARCH_QUEUE_SECONDS": 0.1}), scenario)

    def test_reads_and_transactions_never_wait_behind_searches(self, mariadb):
        async def scenario(database: Database) -> None:
            flood = [asyncio.create_task(database.search(self.sleeping(0.25))) for _ in range(20)]
            await asyncio.sleep(0.05)
            started = asyncio.get_running_loop().time()
            assert await database.read(_read_n) == 0
            await database.run(_bump)
            assert asyncio.get_running_loop().time() - started < 0.2  # searches hold none of their connections
            outcomes = await asyncio.gather(*flood, return_exceptions=True)
            assert {type(outcome) for outcome in outcomes} <= {int, Overloaded}

        on_database(mariadb, scenario)


class TestTheDatabasesClock:
    def test_an_offset_is_from_the_servers_time_and_never_shares_a_cached_statement(self, settings):
        def earlier_than_now(offset: float) -> Any:
            async def compare(session: AsyncSession) -> bool:
                return bool((await session.execute(select(DatabaseUtcNow(offset) < DatabaseUtcNow()))).scalar_one())

            return compare

        async def scenario(database: Database) -> None:
            # The same statement shape twice: were the offset left out of the cache key, both would run as one.
            assert await database.read(earlier_than_now(-60)) is True
            assert await database.read(earlier_than_now(60)) is False

        on_database(settings, scenario)
