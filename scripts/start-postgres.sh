#!/usr/bin/env bash
# Makes sure a local PostgreSQL server runs for the tests and prints its URL:
#   postgres://jianzhen:jianzhen@127.0.0.1:PORT/postgres
# Installs Debian's postgresql package if it is missing (needs root), starts the default
# cluster, and creates the `jianzhen` role (allowed to create the per-test databases).
#   usage: scripts/start-postgres.sh
set -euo pipefail
log() { echo "[postgres] $*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || log "apt-get update reported errors; trying the install anyway"
  apt-get install -y -qq postgresql >&2
fi

cluster=$(pg_lsclusters --no-header 2>/dev/null | head -n 1 || true)
if [[ -z "$cluster" ]]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  log "creating cluster $version/main"
  pg_createcluster "$version" main >&2
  cluster=$(pg_lsclusters --no-header | head -n 1)
fi
read -r version name port status _ <<<"$cluster"
if [[ "$status" != online* ]]; then
  log "starting cluster $version/$name on port $port"
  pg_ctlcluster "$version" "$name" start >&2
fi
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.2
done
pg_isready -q -h 127.0.0.1 -p "$port" || { log "server on port $port did not come up; see /var/log/postgresql"; exit 1; }
runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jianzhen') THEN
    CREATE ROLE jianzhen LOGIN CREATEDB PASSWORD 'jianzhen';
  END IF;
END $$;
SQL
echo "postgres://jianzhen:jianzhen@127.0.0.1:$port/postgres"
