# A stand-in for the official mysql:8 image, made from Debian's MariaDB when no image registry answers
# (make compose-test). It keeps that image's contract, which sql-scripts/ and the healthchecks rely on:
# user mysql is uid 999; an empty data directory is initialised with MYSQL_ROOT_PASSWORD (root@'%' too),
# then /docker-entrypoint-initdb.d runs in name order (*.sql fed to the server, *.sh sourced, so they may
# call docker_process_sql, mysql_note and mysql_error); arguments starting with '-' go to the server.
ARG DEBIAN_IMAGE=ecommerce-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
# Unpinned on purpose: a stand-in follows Debian bookworm's current packages, whose old versions
# leave the mirror.
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 mysql \
    && useradd --system --uid 999 --gid mysql --home-dir /var/lib/mysql --shell /usr/sbin/nologin mysql \
    && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends mariadb-server mariadb-client \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    # Empty, so the entrypoint initialises it; the package's post-install made a data directory of its own.
    && rm -rf /var/lib/mysql && install -d -o mysql -g mysql -m 0750 /var/lib/mysql /run/mysqld \
    && install -d /docker-entrypoint-initdb.d \
    && printf '[mysqld]\nbind-address = 0.0.0.0\nskip-name-resolve\n' >/etc/mysql/mariadb.conf.d/90-container.cnf
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER 999:999
VOLUME /var/lib/mysql
EXPOSE 3306
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["mariadbd"]
