# A stand-in for nginxinc/nginx-unprivileged (alpine), made from Debian's own packages when no image
# registry answers (make compose-test). What the gateway Dockerfile relies on is all it promises: nginx on
# PATH, a POSIX sh, envsubst, wget, and the unprivileged image's user 101.
ARG DEBIAN_IMAGE=ecommerce-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
# policy-rc.d: the package's post-install must not try to start a server inside the build.
# Unpinned on purpose: a stand-in follows Debian bookworm's current packages, whose old versions
# leave the mirror.
# hadolint ignore=DL3008
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends nginx gettext-base wget \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && groupadd --system --gid 101 nginx \
    && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --shell /usr/sbin/nologin nginx
USER 101:101
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
