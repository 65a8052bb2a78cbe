from product_service.models import Base
from service_kit.db.migrate import run_migrations

run_migrations(Base.metadata)
