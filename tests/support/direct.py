"""A service's database reached from a (synchronous) test: sync sessions for what a test checks beneath the
API, and `call` to run the service's own async code (a flow, a reconciliation pass) against it."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from service_kit.app import database_for
from service_kit.db.engine import create_db_engine
from service_kit.db.unit_of_work import Database, Work
from service_kit.settings import ServiceSettings

T = TypeVar("T")


class DirectDatabase:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self.engine = create_db_engine(settings.database_url())
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    def call(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run `work` on the service's own `Database`, in an event loop of its own (the loop and the
        connections are gone afterwards: make any async client inside `work`)."""

        async def main() -> T:
            database = database_for(self._settings)
            try:
                return await work(database)
            finally:
                await database.dispose()

        return asyncio.run(main())

    def run(self, work: Work[T]) -> T:
        """One unit of work, as the service runs it (`Database.run`)."""
        return self.call(lambda database: database.run(work))

    def dispose(self) -> None:
        self.engine.dispose()
