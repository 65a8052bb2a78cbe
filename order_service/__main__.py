import gc

gc.disable()  # for the start only: service_kit.server switches it back on once the replica serves

from order_service.config import MIGRATIONS_DIR, settings
from service_kit.cli import run

if __name__ == "__main__":
    run("order_service", settings, migrations_dir=MIGRATIONS_DIR)
