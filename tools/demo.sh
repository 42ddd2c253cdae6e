#!/usr/bin/env bash
# make demo: the main job end to end on an embedded default.
#
# 1. a throwaway PostgreSQL 15 on 127.0.0.1:$DEMO_PORT (default 5433; role and
#    database knowledgehub), its files in $DEMO_PG_DIR (default
#    /tmp/knowledgehub-demo-<port>: as root the server runs as the postgres user,
#    which cannot enter a checkout under /root), the role's password only in the
#    demo's passfile (0600);
# 2. a pre-migration KnowledgeHub database as production holds it: 001-003 applied
#    by hand (no ledger) and realistic sample data (CHUNKS chunks, default 100000);
# 3. ansible-playbook playbooks/migrate.yml -i inventories/local -e target_env=demo
#    (the playbooks refuse a run that names no target), which baselines
#    001-003, applies 004, 005 and 006 and prints a summary (-e login_port=<port>
#    when the port is not 5433).
#
# The demo's own state (the passfile, the backups and recovery points, the host
# copies of the reports) is in .demo/ for port 5433 and in .demo/port-<port>/ for
# any other port (inventories/local derives backup_dir from login_port the same
# way): two demos on different ports never read or prune each other's backups,
# and a second demo does not overwrite the first one's password.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
CHUNKS=${CHUNKS:-100000}
PORT=${DEMO_PORT:-5433}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH="$repo/.venv/bin:$PATH"

[ -x "$PG_BIN/postgres" ] || { echo "demo: PostgreSQL 15 server binaries not found in $PG_BIN (apt-get install postgresql-15)" >&2; exit 1; }
case "$CHUNKS" in ''|*[!0-9]*) echo "demo: CHUNKS must be a number of chunks, got '$CHUNKS'" >&2; exit 2 ;; esac
case "$PORT" in
    ''|*[!0-9]*|0*) echo "demo: DEMO_PORT must be a TCP port number (1-65535), got '$PORT'" >&2; exit 2 ;;
esac
[ "$PORT" -le 65535 ] || { echo "demo: DEMO_PORT must be a TCP port number (1-65535), got '$PORT'" >&2; exit 2; }
DEMO_PG_DIR=${DEMO_PG_DIR:-${TMPDIR:-/tmp}/knowledgehub-demo-$PORT}

# The default port keeps the paths earlier demos used; another port gets its own state directory.
if [ "$PORT" = 5433 ]; then
    state=.demo
    port_args=""
else
    state=.demo/port-$PORT
    port_args=" -e login_port=$PORT"
fi
if [ -f "$DEMO_PG_DIR/data/postmaster.pid" ]; then
    echo "== stopping the previous demo cluster"
    python3 tools/pgsandbox.py stop --dir "$DEMO_PG_DIR"
fi
if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    echo "demo: something else already listens on 127.0.0.1:$PORT; choose another port with" \
         "make demo DEMO_PORT=<free port> (or stop what listens there)" >&2
    exit 1
fi

mkdir -p "$state"
chmod 700 .demo "$state"
echo "== starting a throwaway PostgreSQL 15 on 127.0.0.1:$PORT"
python3 tools/pgsandbox.py start --fresh --dir "$DEMO_PG_DIR" --port "$PORT" --passfile "$repo/$state/pgpass"

export PGPASSFILE="$repo/$state/pgpass" PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=knowledgehub PGDATABASE=knowledgehub
psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "== loading the pre-migration KnowledgeHub schema (001-003, no ledger) and $CHUNKS chunks of sample data"
start=$SECONDS
for file in migrations/001_*.sql migrations/002_*.sql migrations/003_*.sql; do
    psql -1 -f "$file"
done
psql -v chunks="$CHUNKS" -f tools/sample_data.sql
echo "   loaded in $((SECONDS - start)) s: $(psql -A -t -c "SELECT format('%s documents, %s chunks, %s memories, %s', (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), (SELECT count(*) FROM ai_memories), pg_size_pretty(pg_database_size(current_database())))")"

echo "== ansible-playbook playbooks/migrate.yml -i inventories/local -e target_env=demo$port_args"
# shellcheck disable=SC2086  # port_args is empty or two words
ansible-playbook playbooks/migrate.yml -i inventories/local -e target_env=demo $port_args

# PGPASSFILE is absolute: the modules do not run in the repository, a relative passfile would not be found.
cat <<MSG
== done. The demo database on 127.0.0.1:$PORT stays up for you to look at:
   PGPASSFILE=$PGPASSFILE psql -h 127.0.0.1 -p $PORT -U knowledgehub knowledgehub -c 'TABLE migration_log'
   rerun the playbook (it changes nothing):  PGPASSFILE=$PGPASSFILE .venv/bin/ansible-playbook playbooks/migrate.yml -i inventories/local -e target_env=demo$port_args
   stop it:  python3 tools/pgsandbox.py stop --dir "$DEMO_PG_DIR"
MSG
