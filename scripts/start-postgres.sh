#!/usr/bin/env bash
# Start a throwaway PostgreSQL on 127.0.0.1 for the server tests (fusion serve --postgres-url).
#
#   eval "$(scripts/start-postgres.sh)"        # installs PostgreSQL if missing (Debian apt, as root or sudo),
#                                              # starts a cluster, exports FUSION_TEST_POSTGRES_URL
#   scripts/start-postgres.sh --stop "$FUSION_TEST_PGDATA"
#
# Settings (env): PGPORT (default: a free port), FUSION_TEST_PGDATA (default: a new temp dir),
# FUSION_TEST_DB (default: fusion_test). Only the export lines go to stdout; progress goes to stderr.
set -euo pipefail

log() { echo "start-postgres: $*" >&2; }

pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
    done
    command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
    return 1
}

# Run a PostgreSQL program as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-}" = "--stop" ]; then
    data="${2:?usage: $0 --stop DATA_DIR}"
    bin="$(pg_bindir)"
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
    rm -rf "$data"
    exit 0
fi

if ! bin="$(pg_bindir)"; then
    if [ "$(id -u)" = 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        log "PostgreSQL is not installed and we are neither root nor allowed sudo; install the Debian package 'postgresql'"
        exit 1
    fi
    log "installing PostgreSQL (apt-get)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    if ! bin="$(pg_bindir)"; then
        log "apt-get installed 'postgresql' but no pg_ctl was found under /usr/lib/postgresql/*/bin"
        exit 1
    fi
fi

port="${PGPORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
data="${FUSION_TEST_PGDATA:-$(mktemp -d /tmp/fusion-pg.XXXXXX)}"
db="${FUSION_TEST_DB:-fusion_test}"
mkdir -p "$data"
chmod 700 "$data"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$data"

if [ ! -s "$data/PG_VERSION" ]; then
    log "initialising a cluster in $data"
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
log "starting PostgreSQL ($("$bin/postgres" --version)) on 127.0.0.1:$port"
if ! as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off" start >&2; then
    log "PostgreSQL did not start; the end of $data/server.log:"
    tail -n 20 "$data/server.log" >&2 || true
    exit 1
fi
exists="$(as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'")"
if [ "$exists" != 1 ]; then
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
fi
url="postgresql://postgres@127.0.0.1:$port/$db"
log "ready: $url (stop: $0 --stop $data)"
printf 'export FUSION_TEST_POSTGRES_URL=%q\n' "$url"
printf 'export FUSION_TEST_PGDATA=%q\n' "$data"
