from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from auth_service.models import Base
from tests.support.direct import DirectDatabase


class TestSchema:
    def test_the_migrations_build_exactly_what_the_models_describe(self, settings):
        database = DirectDatabase(settings)
        with database.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        database.dispose()
        assert differences == []
