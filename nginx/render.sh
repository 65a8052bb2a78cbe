#!/bin/sh
# Render the gateway config: `nginx/render.sh OUTPUT` writes nginx.conf.template, filled in from the
# environment, to OUTPUT. The same script serves local runs (the fleet), docker compose and Kubernetes.
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

# A non-negative integer, or fail naming the variable.
whole_number() {
    case $2 in
        '' | *[!0-9]*) fail "$1 must be a whole number, got '$2'" ;;
    esac
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

# TLS at the door, from a certificate and key mounted as files (a Kubernetes TLS Secret), or none.
TLS_LISTEN="# no TLS (GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE are unset)"
TLS_SETTINGS=""
TLS_REDIRECT=""
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
    tls_listen=$GATEWAY_TLS_PORT
    [ -z "$GATEWAY_HOST" ] || tls_listen="$GATEWAY_HOST:$GATEWAY_TLS_PORT"
    # nginx 1.25.1 made HTTP/2 a directive of its own; older ones take it on the listen line.
    if nginx -v 2>&1 | grep -Eq 'nginx/1\.([0-9]|1[0-9]|2[0-4])\.|nginx/1\.25\.0'; then
        TLS_LISTEN="listen $tls_listen ssl http2 default_server;"
        http2=""
    else
        TLS_LISTEN="listen $tls_listen ssl default_server;"
        http2="http2 on;"
    fi
    # Mozilla's "intermediate" profile: TLS 1.2 with forward-secret AEAD ciphers, and TLS 1.3.
    TLS_SETTINGS="$http2
        ssl_certificate $GATEWAY_TLS_CERT_FILE;
        ssl_certificate_key $GATEWAY_TLS_KEY_FILE;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:tls:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets off;"
    https_port=":$GATEWAY_HTTPS_PORT"
    [ "$GATEWAY_HTTPS_PORT" != 443 ] || https_port=""
    # 308, not 301: a client's POST is resent as a POST, to https; plain HTTP never reaches a service.
    TLS_REDIRECT="if (\$plain_http_redirect) {
            return 308 https://\$host$https_port\$request_uri;
        }"
fi

# 0 = off: no zone and no limit_req line at all (nginx rejects a zero rate). $limit_key is the client's
# address, or its /64 for IPv6 (the template's map).
if [ "$LOGIN_RATE_LIMIT" -gt 0 ]; then
    LOGIN_LIMIT_ZONE="    limit_req_zone \$limit_key zone=login:10m rate=${LOGIN_RATE_LIMIT}r/m;"
    LOGIN_LIMIT_REQ="limit_req zone=login burst=$LOGIN_RATE_BURST nodelay;"
    # Seconds until the zone lets one more attempt through, rounded up.
    LOGIN_RETRY_AFTER=$(((60 + LOGIN_RATE_LIMIT - 1) / LOGIN_RATE_LIMIT))
else
    LOGIN_LIMIT_ZONE="    # login rate limit off (LOGIN_RATE_LIMIT=0)"
    LOGIN_LIMIT_REQ="# login rate limit off"
    LOGIN_RETRY_AFTER=1
fi
if [ "$REGISTER_RATE_LIMIT" -gt 0 ]; then
    REGISTER_LIMIT_ZONE="    limit_req_zone \$limit_key zone=register:10m rate=${REGISTER_RATE_LIMIT}r/m;"
    REGISTER_LIMIT_REQ="limit_req zone=register burst=$REGISTER_RATE_BURST nodelay;"
    REGISTER_RETRY_AFTER=$(((60 + REGISTER_RATE_LIMIT - 1) / REGISTER_RATE_LIMIT))
else
    REGISTER_LIMIT_ZONE="    # registration rate limit off (REGISTER_RATE_LIMIT=0)"
    REGISTER_LIMIT_REQ="# registration rate limit off"
    REGISTER_RETRY_AFTER=1
fi
if [ "$API_RATE_LIMIT" -gt 0 ]; then
    API_LIMIT_ZONE="    limit_req_zone \$limit_key zone=api:10m rate=${API_RATE_LIMIT}r/s;"
    API_LIMIT_REQ="limit_req zone=api burst=$API_RATE_BURST nodelay;"
else
    API_LIMIT_ZONE="    # API rate limit off (API_RATE_LIMIT=0)"
    API_LIMIT_REQ="# API rate limit off"
fi
# $search_limit_key is empty (so nothing is counted) for a catalogue read without q=.
if [ "$SEARCH_RATE_LIMIT" -gt 0 ]; then
    SEARCH_LIMIT_ZONE="    limit_req_zone \$search_limit_key zone=search:10m rate=${SEARCH_RATE_LIMIT}r/s;"
    SEARCH_LIMIT_REQ="limit_req zone=search burst=$SEARCH_RATE_BURST nodelay;"
else
    SEARCH_LIMIT_ZONE="    # search rate limit off (SEARCH_RATE_LIMIT=0)"
    SEARCH_LIMIT_REQ="# search rate limit off"
fi

# One set_real_ip_from per trusted CIDR; none means X-Forwarded-For is never believed.
REAL_IP_FROM="    # no trusted proxies (TRUSTED_PROXIES is empty): X-Forwarded-For is ignored"
if [ -n "$(echo "$TRUSTED_PROXIES" | tr -d ' ,')" ]; then
    REAL_IP_FROM=""
    old_ifs=$IFS
    IFS=,
    for cidr in $TRUSTED_PROXIES; do
        cidr=$(echo "$cidr" | tr -d ' ')
        [ -n "$cidr" ] || continue
        case $cidr in
            *[!0-9A-Fa-f.:/]*) fail "TRUSTED_PROXIES entries must be CIDRs or addresses, got '$cidr'" ;;
        esac
        REAL_IP_FROM="${REAL_IP_FROM}    set_real_ip_from $cidr;
"
    done
    IFS=$old_ifs
fi

mkdir -p "$NGINX_TEMP_DIR"

export TLS_LISTEN TLS_SETTINGS TLS_REDIRECT
export GATEWAY_LISTEN GATEWAY_PORT INTERNAL_LISTEN NGINX_TEMP_DIR NGINX_WORKER_PROCESSES REAL_IP_FROM
export LOGIN_LIMIT_ZONE LOGIN_LIMIT_REQ LOGIN_RETRY_AFTER API_LIMIT_ZONE API_LIMIT_REQ
export REGISTER_LIMIT_ZONE REGISTER_LIMIT_REQ REGISTER_RETRY_AFTER SEARCH_LIMIT_ZONE SEARCH_LIMIT_REQ
export UPSTREAM_CONNECT_TIMEOUT UPSTREAM_READ_TIMEOUT UPSTREAM_RETRY_TIMEOUT UPSTREAM_FAIL_TIMEOUT
export AUTH_MAX_FAILS PRODUCT_MAX_FAILS ORDER_MAX_FAILS CATALOGUE_CACHE_SECONDS
export AUTH_UPSTREAM_1 AUTH_UPSTREAM_2 PRODUCT_UPSTREAM_1 PRODUCT_UPSTREAM_2 ORDER_UPSTREAM_1 ORDER_UPSTREAM_2

# Only these names are substituted; every other $word is nginx's own variable.
variables='${TLS_LISTEN} ${TLS_SETTINGS} ${TLS_REDIRECT} ${GATEWAY_LISTEN} ${GATEWAY_PORT} ${INTERNAL_LISTEN} ${NGINX_TEMP_DIR} ${NGINX_WORKER_PROCESSES} ${REAL_IP_FROM}
${LOGIN_LIMIT_ZONE} ${LOGIN_LIMIT_REQ} ${LOGIN_RETRY_AFTER} ${API_LIMIT_ZONE} ${API_LIMIT_REQ}
${REGISTER_LIMIT_ZONE} ${REGISTER_LIMIT_REQ} ${REGISTER_RETRY_AFTER} ${SEARCH_LIMIT_ZONE} ${SEARCH_LIMIT_REQ}
${UPSTREAM_CONNECT_TIMEOUT} ${UPSTREAM_READ_TIMEOUT} ${UPSTREAM_RETRY_TIMEOUT} ${UPSTREAM_FAIL_TIMEOUT}
${AUTH_MAX_FAILS} ${PRODUCT_MAX_FAILS} ${ORDER_MAX_FAILS} ${CATALOGUE_CACHE_SECONDS}
${AUTH_UPSTREAM_1} ${AUTH_UPSTREAM_2} ${PRODUCT_UPSTREAM_1} ${PRODUCT_UPSTREAM_2} ${ORDER_UPSTREAM_1} ${ORDER_UPSTREAM_2}'

# Written beside the target and moved into place, so a reader never sees half a file.
envsubst "$variables" <"$template" >"$out.tmp"
mv "$out.tmp" "$out"
