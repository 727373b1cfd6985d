# Sourced by .ci/run: a throwaway PostgreSQL cluster on 127.0.0.1 for the shared-study sweep test.
# Installs the Debian package `postgresql` only when no server binaries are found, creates a cluster in a
# temporary directory (as the `postgres` user when run as root: initdb refuses root), listens on loopback
# only, on a free port, exports SKILLOPT_TEST_POSTGRES_URL, and stops and deletes the cluster on exit.

_pg_bin() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$found" ]; then echo "$found"; elif command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; fi
}

_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    if [ -z "$(_pg_bin)" ]; then
        echo "installing PostgreSQL (Debian package postgresql) for the shared-study test"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    fi
    PG_BIN="$(_pg_bin)"
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    PG_DIR="$(mktemp -d)"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    local port
    port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    _as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U skillopt --auth=trust -E UTF8 >"$PG_DIR/initdb.log"
    trap stop_postgres EXIT
    _as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR" start >/dev/null
    _as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U skillopt skillopt_test
    export SKILLOPT_TEST_POSTGRES_URL="postgresql+psycopg://skillopt@127.0.0.1:$port/skillopt_test"
    echo "$("$PG_BIN/postgres" --version) on 127.0.0.1:$port for the tests"
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        _as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
    fi
    [ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
}
