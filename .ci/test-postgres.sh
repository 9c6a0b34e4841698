# Sourced by .ci/run: a throwaway PostgreSQL server on 127.0.0.1 for the drawing bank's tests.
# start_test_postgres exports DIGITLAB_TEST_POSTGRES_URL when the server is up; the tests that need it
# skip with a reason when it is not. The cluster lives in a temp folder and is removed on exit.

postgres_bindir() {
  # Debian's layout; `|| true` because no match must not stop .ci/run (set -e, pipefail).
  { ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true; } | sort -V | tail -n 1
}

start_test_postgres() {
  local bindir port
  bindir="$(postgres_bindir)"
  if [ -z "$bindir" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
      || echo "PostgreSQL could not be installed: the drawing bank's PostgreSQL tests will be skipped"
    bindir="$(postgres_bindir)"
  fi
  if [ -z "$bindir" ]; then
    echo "No PostgreSQL server found: the drawing bank's PostgreSQL tests will be skipped"
    return 0
  fi
  TEST_POSTGRES_DIR="$(mktemp -d /tmp/digitlab-postgres.XXXXXX)"
  # initdb refuses to run as root, so as root the cluster belongs to Debian's postgres user.
  local run_as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$TEST_POSTGRES_DIR"
    run_as=(runuser -u postgres --)
  fi
  port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  if "${run_as[@]}" "$bindir/initdb" -D "$TEST_POSTGRES_DIR/data" -U digitlab --auth=trust -E UTF8 >/dev/null \
    && "${run_as[@]}" "$bindir/pg_ctl" -D "$TEST_POSTGRES_DIR/data" -l "$TEST_POSTGRES_DIR/server.log" -w \
         -o "-c listen_addresses=127.0.0.1 -p $port -k $TEST_POSTGRES_DIR -c fsync=off" start >/dev/null; then
    export DIGITLAB_TEST_POSTGRES_URL="postgresql+psycopg://digitlab@127.0.0.1:$port/postgres"
    TEST_POSTGRES_CTL=("${run_as[@]}" "$bindir/pg_ctl" -D "$TEST_POSTGRES_DIR/data")
    trap stop_test_postgres EXIT
    echo "PostgreSQL for tests: $DIGITLAB_TEST_POSTGRES_URL"
  else
    echo "PostgreSQL did not start (log: $TEST_POSTGRES_DIR/server.log): its tests will be skipped"
  fi
}

stop_test_postgres() {
  "${TEST_POSTGRES_CTL[@]}" stop -m fast >/dev/null 2>&1 || true
  rm -rf "$TEST_POSTGRES_DIR"
}
