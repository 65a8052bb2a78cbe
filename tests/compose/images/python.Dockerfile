# A stand-in for the official python:3.11-slim-bookworm, made from Debian's own packages when no image
# registry answers (make compose-test). What the service Dockerfiles rely on is all it promises: `python`
# 3.11 with venv and pip on PATH, groupadd/useradd, CA certificates.
ARG DEBIAN_IMAGE=ecommerce-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
# Unpinned on purpose: a stand-in follows Debian bookworm's current packages, whose old versions
# leave the mirror.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv python-is-python3 \
    && rm -rf /var/lib/apt/lists/*
CMD ["python"]
