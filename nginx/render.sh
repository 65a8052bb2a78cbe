#!/bin/sh
# Render the gateway config: `nginx/render.sh OUTPUT` writes nginx.conf.template, filled in from the
# environment, to OUTPUT, and beside it the two files that config includes: OUTPUT.tls.conf (TLS, or
# nothing) and OUTPUT.real-ip.conf (the trusted proxies). The same script serves local runs (the fleet),
# docker compose and Kubernetes; it substitutes values, and the directives live in the files it fills in.
#
# Environment (default):
#   GATEWAY_PORT (8080)            public listen port; GATEWAY_HOST ("" = all addresses) narrows it
#   GATEWAY_TLS_CERT_FILE, GATEWAY_TLS_KEY_FILE ("")  both set: TLS (1.2 and 1.3, HTTP/2, HSTS) on
#                                  GATEWAY_TLS_PORT (8443), and GATEWAY_PORT answers every request but
#                                  /healthz (the probes') with 308 to https://host:GATEWAY_HTTPS_PORT (443,
#                                  the port clients use: a Service's or load balancer's) and the same URI
#   INTERNAL_LISTEN (127.0.0.1:8081)  the loopback stand-in for cluster Services
#   AUTH_UPSTREAM_1/2, PRODUCT_UPSTREAM_1/2, ORDER_UPSTREAM_1/2  replicas as host:port (required)
#   LOGIN_RATE_LIMIT (120)         login attempts per minute per client address; 0 = off. Generous: a whole
#                                  office behind one NAT logs in through it; guessing one account's password
#                                  is throttled per account by the auth service, from any address
#   LOGIN_RATE_BURST (60)          attempts allowed at once above that rate
#   REGISTER_RATE_LIMIT (10)       registrations per minute per client address; 0 = off
#   REGISTER_RATE_BURST (5)        registrations allowed at once above that rate
#   API_RATE_LIMIT (50)            requests per second per client address on the API; 0 = off
#   API_RATE_BURST (100)           requests allowed at once above that rate
#   SEARCH_RATE_LIMIT (5)          catalogue searches (GET /api/v0/products?q=...) per second per client
#                                  address, on top of the API limit: each may scan the catalogue; 0 = off
#   SEARCH_RATE_BURST (10)         searches allowed at once above that rate
#                                  Every limit keys an IPv4 client by its address, an IPv6 client by its /64
#                                  (one subscriber's whole network, which it can hop around in for free).
#   TRUSTED_PROXIES ("")           comma-separated CIDRs whose X-Forwarded-For is believed
#   NGINX_TEMP_DIR (/tmp/nginx)    the only place nginx writes (pid, temp files); created if missing
#   NGINX_WORKER_PROCESSES (auto)
#   UPSTREAM_CONNECT_TIMEOUT (300ms)  a connect that has not completed by then goes to the other replica. A
#                                  live replica's kernel completes it in well under a millisecond; a killed
#                                  container's address drops the SYN while its network is rebuilt, and the
#                                  retransmission would come only after 1 s (make compose-test measures it)
#   UPSTREAM_READ_TIMEOUT (60s), UPSTREAM_RETRY_TIMEOUT (15s)
#   CATALOGUE_CACHE_SECONDS (1)    anonymous reads of the catalogue are served from the gateway's cache for at
#                                  most this long after a replica answered them; 0 = off
#   UPSTREAM_MAX_FAILS (1), UPSTREAM_FAIL_TIMEOUT (2s)  a replica nginx failed to reach that often within
#                                  that time is skipped for that long (about a restart's length), unless its
#                                  partner is skipped too; 0 = never skipped. A service whose two entries are
#                                  one address (a Kubernetes Service) always gets 0.
set -eu

out=${1:?usage: render.sh OUTPUT}
template=$(dirname "$0")/nginx.conf.template

fail() {
    echo "render.sh: $*" >&2
    exit 1
}

# A non-negative integer, or fail naming the variable; the variable is then set to its plain value, leading
# zeros dropped: the template's maps compare 0 as text (00 would leave a limit on), and shell arithmetic
# would read 010 as octal.
whole_number() {
    case $2 in
        '' | *[!0-9]*) fail "$1 must be a whole number, got '$2'" ;;
    esac
    plain=$(echo "$2" | sed 's/^0*//')
    eval "$1=${plain:-0}"
}

# host:port (or [v6]:port); nothing that could break out of the directive.
address() {
    case $2 in
        '' | *[!A-Za-z0-9.:_\[\]-]*) fail "$1 must be host:port, got '$2'" ;;
    esac
}

# A duration such as 2s, 500ms or 1m.
duration() {
    case $2 in
        '' | *[!0-9smh]* | [!0-9]*) fail "$1 must be a duration like 2s or 500ms, got '$2'" ;;
    esac
}

: "${GATEWAY_PORT:=8080}"
: "${GATEWAY_HOST:=}"
: "${GATEWAY_TLS_CERT_FILE:=}"
: "${GATEWAY_TLS_KEY_FILE:=}"
: "${GATEWAY_TLS_PORT:=8443}"
: "${GATEWAY_HTTPS_PORT:=443}"
: "${INTERNAL_LISTEN:=127.0.0.1:8081}"
: "${LOGIN_RATE_LIMIT:=120}"
: "${LOGIN_RATE_BURST:=60}"
: "${REGISTER_RATE_LIMIT:=10}"
: "${REGISTER_RATE_BURST:=5}"
: "${API_RATE_LIMIT:=50}"
: "${API_RATE_BURST:=100}"
: "${SEARCH_RATE_LIMIT:=5}"
: "${SEARCH_RATE_BURST:=10}"
: "${TRUSTED_PROXIES:=}"
: "${NGINX_TEMP_DIR:=/tmp/nginx}"
: "${NGINX_WORKER_PROCESSES:=auto}"
: "${UPSTREAM_CONNECT_TIMEOUT:=300ms}"
: "${UPSTREAM_READ_TIMEOUT:=60s}"
: "${UPSTREAM_RETRY_TIMEOUT:=15s}"
: "${UPSTREAM_MAX_FAILS:=1}"
: "${UPSTREAM_FAIL_TIMEOUT:=2s}"
: "${CATALOGUE_CACHE_SECONDS:=1}"

whole_number GATEWAY_PORT "$GATEWAY_PORT"
address INTERNAL_LISTEN "$INTERNAL_LISTEN"
whole_number LOGIN_RATE_LIMIT "$LOGIN_RATE_LIMIT"
whole_number LOGIN_RATE_BURST "$LOGIN_RATE_BURST"
whole_number REGISTER_RATE_LIMIT "$REGISTER_RATE_LIMIT"
whole_number REGISTER_RATE_BURST "$REGISTER_RATE_BURST"
whole_number API_RATE_LIMIT "$API_RATE_LIMIT"
whole_number API_RATE_BURST "$API_RATE_BURST"
whole_number SEARCH_RATE_LIMIT "$SEARCH_RATE_LIMIT"
whole_number SEARCH_RATE_BURST "$SEARCH_RATE_BURST"
duration UPSTREAM_CONNECT_TIMEOUT "$UPSTREAM_CONNECT_TIMEOUT"
duration UPSTREAM_READ_TIMEOUT "$UPSTREAM_READ_TIMEOUT"
duration UPSTREAM_RETRY_TIMEOUT "$UPSTREAM_RETRY_TIMEOUT"
whole_number UPSTREAM_MAX_FAILS "$UPSTREAM_MAX_FAILS"
duration UPSTREAM_FAIL_TIMEOUT "$UPSTREAM_FAIL_TIMEOUT"
whole_number CATALOGUE_CACHE_SECONDS "$CATALOGUE_CACHE_SECONDS"
[ "$CATALOGUE_CACHE_SECONDS" -le 3600 ] || fail "CATALOGUE_CACHE_SECONDS must be at most 3600, got '$CATALOGUE_CACHE_SECONDS'"
case $NGINX_WORKER_PROCESSES in
    auto) ;;
    *) whole_number NGINX_WORKER_PROCESSES "$NGINX_WORKER_PROCESSES" ;;
esac
case $NGINX_TEMP_DIR in
    /*) ;;
    *) fail "NGINX_TEMP_DIR must be an absolute path, got '$NGINX_TEMP_DIR'" ;;
esac
case $NGINX_TEMP_DIR in
    *[!A-Za-z0-9._/-]*) fail "NGINX_TEMP_DIR may hold only letters, digits and ._/-, got '$NGINX_TEMP_DIR'" ;;
esac
for name in AUTH_UPSTREAM_1 AUTH_UPSTREAM_2 PRODUCT_UPSTREAM_1 PRODUCT_UPSTREAM_2 ORDER_UPSTREAM_1 ORDER_UPSTREAM_2; do
    eval "value=\${$name:-}"
    # shellcheck disable=SC2154  # set by the eval above
    address "$name" "$value"
done

# Passive failure marking per service. Two entries with one address are a Service balancing over every pod
# (Kubernetes' ClusterIP): marking it failed would cut the gateway off from the whole service for
# UPSTREAM_FAIL_TIMEOUT because one pod misbehaved, so such a service is never marked (max_fails=0).
max_fails_for() {
    if [ "$1" = "$2" ]; then echo 0; else echo "$UPSTREAM_MAX_FAILS"; fi
}
AUTH_MAX_FAILS=$(max_fails_for "$AUTH_UPSTREAM_1" "$AUTH_UPSTREAM_2")
PRODUCT_MAX_FAILS=$(max_fails_for "$PRODUCT_UPSTREAM_1" "$PRODUCT_UPSTREAM_2")
ORDER_MAX_FAILS=$(max_fails_for "$ORDER_UPSTREAM_1" "$ORDER_UPSTREAM_2")

if [ -n "$GATEWAY_HOST" ]; then
    address GATEWAY_HOST "$GATEWAY_HOST"
    GATEWAY_LISTEN="$GATEWAY_HOST:$GATEWAY_PORT"
else
    GATEWAY_LISTEN=$GATEWAY_PORT
fi

# The files the rendered config includes: nginx/errors.conf as it is, and two rendered beside OUTPUT.
nginx_dir=$(cd "$(dirname "$0")" && pwd)
out_dir=$(mkdir -p "$(dirname "$out")" && cd "$(dirname "$out")" && pwd)
ERRORS_CONF=$nginx_dir/errors.conf
TLS_CONF=$out_dir/$(basename "$out").tls.conf
REAL_IP_CONF=$out_dir/$(basename "$out").real-ip.conf

# TLS at the door, from a certificate and key mounted as files (a Kubernetes TLS Secret), or none.
tls_conf="# no TLS (GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE are unset)"
if [ -n "$GATEWAY_TLS_CERT_FILE$GATEWAY_TLS_KEY_FILE" ]; then
    [ -n "$GATEWAY_TLS_CERT_FILE" ] && [ -n "$GATEWAY_TLS_KEY_FILE" ] ||
        fail "GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE go together"
    for file in "$GATEWAY_TLS_CERT_FILE" "$GATEWAY_TLS_KEY_FILE"; do
        case $file in
            /*) ;;
            *) fail "TLS files must be absolute paths, got '$file'" ;;
        esac
        case $file in
            *[!A-Za-z0-9._/-]*) fail "TLS file paths may use letters, digits and ._/- only, got '$file'" ;;
        esac
    done
    whole_number GATEWAY_TLS_PORT "$GATEWAY_TLS_PORT"
    whole_number GATEWAY_HTTPS_PORT "$GATEWAY_HTTPS_PORT"
    TLS_LISTEN=$GATEWAY_TLS_PORT
    [ -z "$GATEWAY_HOST" ] || TLS_LISTEN="$GATEWAY_HOST:$GATEWAY_TLS_PORT"
    # nginx 1.25.1 made HTTP/2 a directive of its own (http2.conf); older ones take it on the listen line.
    if nginx -v 2>&1 | grep -Eq 'nginx/1\.([0-9]|1[0-9]|2[0-4])\.|nginx/1\.25\.0'; then
        TLS_LISTEN_FLAGS="ssl http2"
        HTTP2_CONF=$nginx_dir/http2-on-listen.conf
    else
        TLS_LISTEN_FLAGS="ssl"
        HTTP2_CONF=$nginx_dir/http2.conf
    fi
    HTTPS_PORT_SUFFIX=":$GATEWAY_HTTPS_PORT"
    [ "$GATEWAY_HTTPS_PORT" != 443 ] || HTTPS_PORT_SUFFIX=""
    export TLS_LISTEN TLS_LISTEN_FLAGS HTTP2_CONF HTTPS_PORT_SUFFIX GATEWAY_TLS_CERT_FILE GATEWAY_TLS_KEY_FILE
    tls_conf=$(envsubst '${TLS_LISTEN} ${TLS_LISTEN_FLAGS} ${HTTP2_CONF} ${HTTPS_PORT_SUFFIX} ${GATEWAY_TLS_CERT_FILE} ${GATEWAY_TLS_KEY_FILE}' <"$nginx_dir/tls.conf.template")
fi

# A rate of 0 turns its limit off (the template's maps give it an empty key); nginx refuses a zone of rate 0.
zone_rate() {
    if [ "$1" -gt 0 ]; then echo "$1"; else echo 1; fi
}
LOGIN_ZONE_RATE=$(zone_rate "$LOGIN_RATE_LIMIT")
REGISTER_ZONE_RATE=$(zone_rate "$REGISTER_RATE_LIMIT")
API_ZONE_RATE=$(zone_rate "$API_RATE_LIMIT")
SEARCH_ZONE_RATE=$(zone_rate "$SEARCH_RATE_LIMIT")
# Seconds until the login or registration zone lets one more attempt through, rounded up.
LOGIN_RETRY_AFTER=$(((60 + LOGIN_ZONE_RATE - 1) / LOGIN_ZONE_RATE))
REGISTER_RETRY_AFTER=$(((60 + REGISTER_ZONE_RATE - 1) / REGISTER_ZONE_RATE))

# One set_real_ip_from per trusted CIDR; none means X-Forwarded-For is never believed.
real_ip_conf="# no trusted proxies (TRUSTED_PROXIES is empty): X-Forwarded-For is ignored"
if [ -n "$(echo "$TRUSTED_PROXIES" | tr -d ' ,')" ]; then
    real_ip_conf="# TRUSTED_PROXIES"
    old_ifs=$IFS
    IFS=,
    for cidr in $TRUSTED_PROXIES; do
        cidr=$(echo "$cidr" | tr -d ' ')
        [ -n "$cidr" ] || continue
        case $cidr in
            *[!0-9A-Fa-f.:/]*) fail "TRUSTED_PROXIES entries must be CIDRs or addresses, got '$cidr'" ;;
        esac
        real_ip_conf="$real_ip_conf
set_real_ip_from $cidr;"
    done
    IFS=$old_ifs
fi

mkdir -p "$NGINX_TEMP_DIR"

export ERRORS_CONF TLS_CONF REAL_IP_CONF
export GATEWAY_LISTEN GATEWAY_PORT INTERNAL_LISTEN NGINX_TEMP_DIR NGINX_WORKER_PROCESSES
export LOGIN_RATE_LIMIT LOGIN_RATE_BURST LOGIN_ZONE_RATE LOGIN_RETRY_AFTER
export REGISTER_RATE_LIMIT REGISTER_RATE_BURST REGISTER_ZONE_RATE REGISTER_RETRY_AFTER
export API_RATE_LIMIT API_RATE_BURST API_ZONE_RATE SEARCH_RATE_LIMIT SEARCH_RATE_BURST SEARCH_ZONE_RATE
export UPSTREAM_CONNECT_TIMEOUT UPSTREAM_READ_TIMEOUT UPSTREAM_RETRY_TIMEOUT UPSTREAM_FAIL_TIMEOUT
export AUTH_MAX_FAILS PRODUCT_MAX_FAILS ORDER_MAX_FAILS CATALOGUE_CACHE_SECONDS
export AUTH_UPSTREAM_1 AUTH_UPSTREAM_2 PRODUCT_UPSTREAM_1 PRODUCT_UPSTREAM_2 ORDER_UPSTREAM_1 ORDER_UPSTREAM_2

# Only these names are substituted; every other $word is nginx's own variable.
variables='${ERRORS_CONF} ${TLS_CONF} ${REAL_IP_CONF}
${GATEWAY_LISTEN} ${GATEWAY_PORT} ${INTERNAL_LISTEN} ${NGINX_TEMP_DIR} ${NGINX_WORKER_PROCESSES}
${LOGIN_RATE_LIMIT} ${LOGIN_RATE_BURST} ${LOGIN_ZONE_RATE} ${LOGIN_RETRY_AFTER}
${REGISTER_RATE_LIMIT} ${REGISTER_RATE_BURST} ${REGISTER_ZONE_RATE} ${REGISTER_RETRY_AFTER}
${API_RATE_LIMIT} ${API_RATE_BURST} ${API_ZONE_RATE} ${SEARCH_RATE_LIMIT} ${SEARCH_RATE_BURST} ${SEARCH_ZONE_RATE}
${UPSTREAM_CONNECT_TIMEOUT} ${UPSTREAM_READ_TIMEOUT} ${UPSTREAM_RETRY_TIMEOUT} ${UPSTREAM_FAIL_TIMEOUT}
${AUTH_MAX_FAILS} ${PRODUCT_MAX_FAILS} ${ORDER_MAX_FAILS} ${CATALOGUE_CACHE_SECONDS}
${AUTH_UPSTREAM_1} ${AUTH_UPSTREAM_2} ${PRODUCT_UPSTREAM_1} ${PRODUCT_UPSTREAM_2} ${ORDER_UPSTREAM_1} ${ORDER_UPSTREAM_2}'

# Each file is written beside its target and moved into place, so a reader never sees half a file; the
# included ones first, so the config never names a file that is not there yet.
printf '%s\n' "$tls_conf" >"$TLS_CONF.tmp"
mv "$TLS_CONF.tmp" "$TLS_CONF"
printf '%s\n' "$real_ip_conf" >"$REAL_IP_CONF.tmp"
mv "$REAL_IP_CONF.tmp" "$REAL_IP_CONF"
envsubst "$variables" <"$template" >"$out.tmp"
mv "$out.tmp" "$out"
