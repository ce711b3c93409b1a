#!/usr/bin/env bash
# Starts the services the test suite needs, runs the given command, stops them.
#
#   bash scripts/test-services.sh .venv/bin/python -m pytest -n 2 -q
#
# Service: a throwaway PostgreSQL 15 on 127.0.0.1 (a free port, trust auth, fsync off, data and socket in a
# temp dir removed on exit), exported to the command as
#   LEADSYNC_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/leadsync_test
# Tests give each xdist worker its own database created from that URL.
# Debian's postgresql-15 is installed with apt-get when its binaries are missing (needs root).
# When PostgreSQL cannot be installed or started the command still runs, the `postgres` tests skip and a
# warning says so; with CI=true that is a failure instead.
# An already exported LEADSYNC_TEST_PG_URL is used as is; LEADSYNC_TEST_NO_PG=1 skips PostgreSQL.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

PG_BIN=${LEADSYNC_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_TMP=""
PG_DATA=""

log() { echo "test-services: $*" >&2; }

run_as_pg() {
    # PostgreSQL refuses to run as root: run its tools as the postgres user when we are root
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

stop_pg() {
    if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
        run_as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [[ -n $PG_TMP ]]; then
        rm -rf "$PG_TMP"
    fi
}
trap stop_pg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install_pg() {
    [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        log "PostgreSQL 15 is not installed in $PG_BIN and this is not root on Debian: cannot install it"
        return 1
    fi
    log "installing postgresql-15 with apt-get (its binaries are missing)"
    # no default cluster: the package would otherwise create and start one on port 5432
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || return 1
    apt-get install -y -qq postgresql-15 >/dev/null || return 1
    [[ -x $PG_BIN/initdb ]]
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_pg() {
    install_pg || return 1
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        log "there is no postgres user to run the server as"
        return 1
    fi
    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/leadsync-pg.XXXXXX") || return 1
    PG_DATA=$PG_TMP/data
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$PG_TMP" || return 1
    fi
    run_as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$PG_TMP/initdb.log" 2>&1 || { cat "$PG_TMP/initdb.log" >&2; return 1; }
    local port attempt
    for attempt in 1 2 3; do
        port=$(free_port) || return 1
        if run_as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" -w -t 30 -o \
            "-c listen_addresses=127.0.0.1 -p $port -k $PG_TMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null; then
            break
        fi
        log "PostgreSQL did not start on port $port (attempt $attempt)"
        tail -n 20 "$PG_TMP/server.log" >&2 || true
        [[ $attempt -eq 3 ]] && return 1
    done
    run_as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres leadsync_test || return 1
    export LEADSYNC_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/leadsync_test"
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

if [[ -n ${LEADSYNC_TEST_PG_URL:-} ]]; then
    log "using the PostgreSQL at LEADSYNC_TEST_PG_URL"
elif [[ ${LEADSYNC_TEST_NO_PG:-} == 1 ]]; then
    log "LEADSYNC_TEST_NO_PG=1: running without PostgreSQL; the postgres tests will skip"
elif ! start_pg; then
    stop_pg
    PG_TMP="" PG_DATA=""
    if [[ ${CI:-} == true ]]; then
        log "ERROR: could not start PostgreSQL, and CI=true requires it"
        exit 1
    fi
    {
        echo "################################################################################"
        echo "# WARNING: could not install or start PostgreSQL 15; the tests marked"
        echo "# 'postgres' will SKIP. Install postgresql-15 or export LEADSYNC_TEST_PG_URL."
        echo "################################################################################"
    } >&2
fi

# Headless Chromium renders the calibration report in a browser test (Debian's chromium package).
install_chromium() {
    command -v chromium >/dev/null && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        return 1
    fi
    log "installing chromium with apt-get (for the report's browser test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || return 1
    apt-get install -y -qq --no-install-recommends chromium >/dev/null || return 1
}
if [[ ${LEADSYNC_TEST_NO_BROWSER:-} == 1 ]]; then
    log "LEADSYNC_TEST_NO_BROWSER=1: the browser tests will skip"
elif ! install_chromium; then
    if [[ ${CI:-} == true ]]; then
        log "ERROR: could not install chromium, and CI=true requires it for the browser tests"
        exit 1
    fi
    log "WARNING: chromium is not installed; the tests marked 'browser' will SKIP"
fi

rc=0
"$@" || rc=$?
exit "$rc"
