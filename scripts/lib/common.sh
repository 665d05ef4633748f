# Shared by the project's scripts: installing Debian packages and starting a
# throwaway PostgreSQL cluster. Source it; it defines functions only.

log() { printf '==> %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        log "cannot install $* (not root); the tests that need it will say so"
        return 0
    fi
    if [ "$apt_updated" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# A throwaway PostgreSQL cluster for the storage contract, unless one is
# given in OTS_TEST_POSTGRES_URL: created in a temporary folder, owned by an
# unprivileged user, on a free loopback port, and removed at exit.
start_postgres() {
    if [ -n "${OTS_TEST_POSTGRES_URL:-}" ]; then
        log "using the PostgreSQL in OTS_TEST_POSTGRES_URL"
        return 0
    fi
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        log "installing PostgreSQL"
        apt_install postgresql
        bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    fi
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        log "PostgreSQL is not available; its suites will be skipped"
        return 0
    fi
    local run_as=()
    pg_dir="$(mktemp -d /tmp/ots-pg.XXXXXX)"
    if [ "$(id -u)" -eq 0 ]; then
        id otstest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin otstest
        chown otstest "$pg_dir"
        run_as=(runuser -u otstest --)
    fi
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${run_as[@]}" "$bin/initdb" -D "$pg_dir/data" --auth=trust -U ots -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1 \
        || { cat "$pg_dir/initdb.log" >&2; return 1; }
    "${run_as[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
        -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" \
        start >/dev/null || { cat "$pg_dir/server.log" >&2; return 1; }
    pg_stop=("${run_as[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop)
    export OTS_TEST_POSTGRES_URL="postgres://ots@127.0.0.1:$port/postgres"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port"
}

stop_postgres() {
    if [ -n "${pg_stop+x}" ]; then
        "${pg_stop[@]}" >/dev/null 2>&1 || true
    fi
    if [ -n "${pg_dir:-}" ]; then
        rm -rf "$pg_dir"
    fi
}

