# The three services' images: one recipe, a target per service. Build from the repository root (the context
# must hold requirements.lock, service_kit/ and the service):
#   docker build --target auth-service    -t ecommerce/auth-service:latest .
#   docker build --target product-service -t ecommerce/product-service:latest .
#   docker build --target order-service   -t ecommerce/order-service:latest .
# Each runs one replica with `python -m <service>` (the command the fleet tests start) and, as the
# migration step of a rollout, `python -m <service> prestart`. The gateway's image is nginx/Dockerfile.

# The base, for every stage. A machine no registry answers builds on a stand-in (tests/compose/images).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.lock .
# Every wheel is checked against the lock's hashes; binary-only, so the slim base needs no compiler.
# A build behind a TLS-inspecting proxy passes that proxy's CA as the build secret build_ca: pip trusts
# it for this step only, and it is never part of an image layer.
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export PIP_CERT=/run/secrets/build_ca; fi \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock

# What every service's image holds: the venv, the kit, an unprivileged user; each target adds its service.
FROM ${PYTHON_IMAGE} AS service
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    VAR_DIR=/app/var
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The code stays root-owned, so a service cannot rewrite itself. Compiled here, because at run time the root
# filesystem may be read-only. var/ is the one writable directory the app owns (VAR_DIR, for dev state
# such as a generated key; unused in production).
COPY service_kit/ service_kit/
RUN python -m compileall -q service_kit \
    && mkdir var && chown app:app var
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=2)"]

# One target per service: only its own code beside the kit.
FROM service AS auth-service
COPY auth_service/ auth_service/
RUN python -m compileall -q auth_service
USER 10001:10001
CMD ["python", "-m", "auth_service"]

FROM service AS product-service
COPY product_service/ product_service/
RUN python -m compileall -q product_service
USER 10001:10001
CMD ["python", "-m", "product_service"]

FROM service AS order-service
COPY order_service/ order_service/
RUN python -m compileall -q order_service
USER 10001:10001
CMD ["python", "-m", "order_service"]
