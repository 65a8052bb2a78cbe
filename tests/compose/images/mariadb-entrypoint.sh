#!/bin/bash
# The entrypoint of the local MariaDB stand-in for mysql:8 (mariadb.Dockerfile): the official image's
# first-start contract, no more. Runs as the mysql user; never as root.
set -eo pipefail

mysql_log() {
	printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$1" "$2"
}
mysql_note() { mysql_log Note "$*"; }
mysql_error() {
	mysql_log ERROR "$*" >&2
	exit 1
}

# Arguments that start with '-' are options for the server, as with the official image.
if [ "${1:0:1}" = '-' ]; then
	set -- mariadbd "$@"
fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then
	exec "$@"
fi

# The data directory and socket the server will use, with every option given on the command line: the
# table of settings at the end of --help (a line of two words; the help text above it wraps).
server_setting() {
	"$@" --verbose --help 2>/dev/null | awk -v name="$SETTING" '$1 == name && NF == 2 { value = $2 } END { print value }'
}
DATADIR=$(SETTING=datadir server_setting "$@")
SOCKET=$(SETTING=socket server_setting "$@")

# Feeds SQL on stdin to the temporary server as root, as the official entrypoint's helper does.
docker_process_sql() {
	mariadb --protocol=socket --socket="$SOCKET" --user=root --password="$MYSQL_ROOT_PASSWORD" \
		--batch --skip-column-names "$@"
}

# Marks an initialisation under way: a container killed or failed half-way must not come back as a server
# without its users, so its next start refuses until the volume is removed.
UNFINISHED=.entrypoint-initialising

initialise() {
	[ -n "${MYSQL_ROOT_PASSWORD:-}" ] || mysql_error "the data directory is empty and MYSQL_ROOT_PASSWORD is not set"
	mysql_note "initialising $DATADIR"
	mkdir -p "$DATADIR"
	touch "$DATADIR/$UNFINISHED"
	mariadb-install-db --datadir="$DATADIR" --skip-test-db --auth-root-authentication-method=normal \
		--skip-name-resolve >/dev/null

	# A temporary server on the socket only: nothing can connect over TCP (the healthchecks neither)
	# until the databases and users exist.
	"$@" --skip-networking --socket="$SOCKET" &
	local pid=$!
	local waited=0
	until mariadb --protocol=socket --socket="$SOCKET" --user=root -e 'SELECT 1' >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || mysql_error "the temporary server died"
		[ "$waited" -lt 60 ] || mysql_error "the temporary server did not answer within 60 s"
		sleep 1
		waited=$((waited + 1))
	done
	mariadb --protocol=socket --socket="$SOCKET" --user=root <<-EOSQL
		ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD//\'/\'\'}';
		CREATE USER 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD//\'/\'\'}';
		GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
	EOSQL

	local file
	for file in /docker-entrypoint-initdb.d/*; do
		case $file in
			*.sh)
				mysql_note "sourcing $file"
				# shellcheck disable=SC1090
				. "$file"
				;;
			*.sql)
				mysql_note "running $file"
				docker_process_sql <"$file"
				;;
			*/\*) ;;
			*) mysql_note "ignoring $file" ;;
		esac
	done

	mariadb-admin --protocol=socket --socket="$SOCKET" --user=root --password="$MYSQL_ROOT_PASSWORD" shutdown
	wait "$pid"
	rm "$DATADIR/$UNFINISHED"
	mysql_note "initialised; starting the server"
}

if [ -e "$DATADIR/$UNFINISHED" ]; then
	mysql_error "an earlier initialisation of $DATADIR did not finish: remove the volume to start over"
fi
if [ ! -d "$DATADIR/mysql" ]; then
	initialise "$@"
fi
exec "$@"
