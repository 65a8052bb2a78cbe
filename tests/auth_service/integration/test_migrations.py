from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from auth_service.models import Base
from service_kit.app import database_for


class TestSchema:
    def test_the_migrations_build_exactly_what_the_models_describe(self, settings):
        database = database_for(settings)
        with database.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        database.dispose()
        assert differences == []
