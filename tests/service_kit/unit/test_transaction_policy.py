"""A unit of work declares its transaction policy where it is written; `Database.run` finds it through the
`functools.partial` a caller binds its arguments with, and a unit that declared nothing gets the default."""

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import service as auth
from auth_service.exceptions import RefreshTokenReused
from product_service import service as product
from service_kit.db.unit_of_work import Transaction, policy_of, transaction


@transaction(retry_duplicates=True, commit_on=(LookupError,))
async def declared(session: AsyncSession, *, n: int) -> int:
    return n


async def plain(session: AsyncSession) -> None:
    return None


def test_a_declared_policy_is_seen_through_partials():
    assert policy_of(partial(partial(declared, n=1))) == Transaction(retry_duplicates=True, commit_on=(LookupError,))


def test_a_unit_that_declares_nothing_gets_the_default():
    assert policy_of(plain) == Transaction(retry_duplicates=False, commit_on=())


def test_the_units_that_race_on_an_insert_or_must_keep_a_refusal_declare_it():
    assert policy_of(product.reserve_batch).retry_duplicates
    assert policy_of(product.release).retry_duplicates
    assert policy_of(auth.refresh).commit_on == (RefreshTokenReused,)
