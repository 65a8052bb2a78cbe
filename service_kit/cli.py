"""The command line every service shares: `python -m <service>` serves one replica,
`python -m <service> prestart` runs once per rollout before any replica starts."""

import argparse
import gc
from collections.abc import Callable
from pathlib import Path

from service_kit.logging import configure_logging
from service_kit.server import serve
from service_kit.settings import ServiceSettings


def run(
    service: str,
    settings: ServiceSettings,
    *,
    migrations_dir: Path,
    after_migrations: Callable[[], None] | None = None,
) -> None:
    """Dispatch `serve` (default) or `prestart` (wait for the database, migrate, then `after_migrations`).
    The service's __main__ has switched the cyclic garbage collector off for the start (service_kit.server)."""
    parser = argparse.ArgumentParser(prog=f"python -m {service}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "prestart"])
    if parser.parse_args().command == "serve":
        serve(f"{service}.main:create_app", settings)
        return
    gc.enable()
    from service_kit.db.migrate import upgrade_to_head  # Alembic only where it runs: not in a replica's start

    configure_logging(service=service, level=settings.LOG_LEVEL, fmt=settings.LOG_FORMAT)
    upgrade_to_head(settings, migrations_dir)
    if after_migrations is not None:
        after_migrations()
