#!/usr/bin/env bash
# Installs (if needed) and starts a local PostgreSQL server on Debian 12 for
# the acquirer's tests and load runs, creates the softpos role and database,
# and prints the URL to export. Idempotent: safe to run again. Run as root.
#
#   eval "$(scripts/postgres.sh | grep '^export ')"
#   SOFTPOS_TEST_POSTGRES_URL=... cargo test -p acquirer
set -euo pipefail

DB_NAME="${SOFTPOS_PG_DB:-softpos}"
DB_USER="${SOFTPOS_PG_USER:-softpos}"
# A fixed local test password: the server listens on loopback only.
DB_PASS="${SOFTPOS_PG_PASSWORD:-softpos-test}"
PORT="${SOFTPOS_PG_PORT:-5432}"

if [ "$(id -u)" -ne 0 ]; then
    echo "postgres.sh: run as root (it installs packages and starts a service)" >&2
    exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql >/dev/null
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
CLUSTER=main
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VERSION $CLUSTER"; then
    pg_createcluster "$VERSION" "$CLUSTER" --port="$PORT" >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}' | grep -qx online; then
    # Containers often lack systemd: pg_ctlcluster drives pg_ctl directly.
    pg_ctlcluster "$VERSION" "$CLUSTER" start
fi
PORT="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')"

for _ in $(seq 1 30); do
    if su postgres -c "psql -p $PORT -tAc 'SELECT 1'" >/dev/null 2>&1; then break; fi
    sleep 1
done

su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -q" <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DB_USER}') THEN
    CREATE ROLE ${DB_USER} LOGIN PASSWORD '${DB_PASS}';
  ELSE
    ALTER ROLE ${DB_USER} LOGIN PASSWORD '${DB_PASS}';
  END IF;
END
\$\$;
SQL
if ! su postgres -c "psql -p $PORT -tAc \"SELECT 1 FROM pg_database WHERE datname = '${DB_NAME}'\"" | grep -q 1; then
    su postgres -c "createdb -p $PORT -O ${DB_USER} ${DB_NAME}"
fi

# The role may also log in with its password over the Unix socket (Debian's
# default is peer authentication there, by OS user name): the load runs
# reach the server that way, as pgbench does.
HBA="$(su postgres -c "psql -p $PORT -tAc 'SHOW hba_file'")"
LINE="local   all             ${DB_USER}                                 scram-sha-256"
if ! grep -qxF "$LINE" "$HBA"; then
    # Before the first `local` line: the first matching line decides.
    awk -v line="$LINE" '!done && /^local/ { print line; done = 1 } { print } END { if (!done) print line }' \
        "$HBA" >"$HBA.new" && cat "$HBA.new" >"$HBA" && rm -f "$HBA.new"
    su postgres -c "psql -p $PORT -tAc 'SELECT pg_reload_conf()'" >/dev/null
fi

URL="postgres://${DB_USER}:${DB_PASS}@127.0.0.1:${PORT}/${DB_NAME}"
echo "PostgreSQL ${VERSION} is running on 127.0.0.1:${PORT}, database ${DB_NAME}."
echo "Over the Unix socket: postgres://${DB_USER}:${DB_PASS}@localhost:${PORT}/${DB_NAME}?host=/var/run/postgresql"
echo "export SOFTPOS_TEST_POSTGRES_URL=${URL}"
