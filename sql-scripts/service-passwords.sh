# shellcheck shell=bash
# Sets each service user's password from the environment and unlocks it (init-db.sql created them locked).
#
# Sourced, not executed, by the MySQL image's entrypoint right after init-db.sql (files run in name order),
# so it can use the entrypoint's own `docker_process_sql` and logging helpers; keep this file non-executable.
# docker compose passes the dev passwords from .env.dev; Kubernetes passes the ones in ecommerce-secret.
# A missing password stops the initialisation here, loudly, rather than leaving a user that cannot log in.

if ! declare -F docker_process_sql >/dev/null; then
	echo >&2 "service-passwords.sh must be sourced by the MySQL entrypoint (is it executable?)"
	exit 1
fi

_ecommerce_sql_string() {
	# A SQL string literal holding $1 verbatim: backslashes and single quotes doubled.
	local value=${1//\\/\\\\}
	printf "'%s'" "${value//\'/\'\'}"
}

_ecommerce_set_password() {
	local user=$1 variable=$2
	local password=${!variable:-}
	if [ -z "$password" ]; then
		mysql_error "$variable is not set: the password of '$user' must come from the environment"
	fi
	docker_process_sql <<-EOSQL
		ALTER USER '$user'@'%' IDENTIFIED BY $(_ecommerce_sql_string "$password") ACCOUNT UNLOCK;
	EOSQL
	mysql_note "password set for '$user'"
}

_ecommerce_set_password auth_svc AUTH_DB_PASS
_ecommerce_set_password product_svc PRODUCT_DB_PASS
_ecommerce_set_password order_svc ORDER_DB_PASS
_ecommerce_set_password auth_migrate AUTH_MIGRATE_DB_PASS
_ecommerce_set_password product_migrate PRODUCT_MIGRATE_DB_PASS
_ecommerce_set_password order_migrate ORDER_MIGRATE_DB_PASS
unset -f _ecommerce_sql_string _ecommerce_set_password
