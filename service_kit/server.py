"""Run one replica: the command every image, the supervisor and the fleet tests start."""

import uvicorn

from service_kit.settings import ServiceSettings


def serve(app_factory: str, settings: ServiceSettings) -> None:
    """Serve `module:create_app` on HOST:PORT until SIGTERM, then finish in-flight requests."""
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.HOST,
        port=settings.PORT,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=75,  # longer than nginx's upstream keepalive_timeout, so nginx closes first
    )
