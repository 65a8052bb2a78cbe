"""make compose-test: the fleet as images under docker compose, run for real (see __main__.py)."""
