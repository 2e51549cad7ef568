#!/usr/bin/env bash
# Run the pgTAP suite (test/pgtap/*.sql) with pg_prove on a throwaway server.
#
# The server lives in a fresh temporary directory: its data directory, its
# log and its Unix socket (no TCP: listen_addresses = '').  It preloads
# snowflake; the test database gets the pgtap, dblink and snowflake
# extensions.  Whatever happens, the server is stopped and the directory
# removed on exit.  Exits non-zero if any test failed.
#
# Run as root (the cluster runs as postgres, through runuser) or as the
# user who will own the cluster.  The extension must be installed
# ("make install") and pgTAP available (Debian: postgresql-15-pgtap,
# libtap-parser-sourcehandler-pgtap-perl).
#
# Environment: PGTAP_FILES to run only some files; PGTAP_VERBOSE=1 to show
# every test line; PGTAP_SEED to replay the random inputs of a run (the
# seed is printed by the files that use one); PG_BINDIR for another
# PostgreSQL installation; PGTAP_PORT for the server's port (default 54329).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# as_pg: run a command as the cluster's owner (postgres when we are root).
. "$here/../scripts/common.sh"
# PG_BINDIR: another installation (default: the one pg_config names).
if [ -n "${PG_BINDIR:-}" ]; then
	export PATH=$PG_BINDIR:$PATH
fi

tests_dir=$here/pgtap
dbname=snowflake_pgtap
port=${PGTAP_PORT:-54329}

if [ "$(id -u)" -eq 0 ]; then
	dbuser=postgres
else
	dbuser=$(id -un)
fi

for cmd in initdb pg_ctl psql pg_prove; do
	if ! command -v "$cmd" >/dev/null; then
		echo "pgtap.sh: $cmd not found in PATH" >&2
		exit 2
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/snowflake_pgtap.XXXXXX")
data=$tmp/data
log=$tmp/server.log

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	local rc=$?
	# A reader that went away (| head) must not stop the cleanup half-way.
	trap '' PIPE
	set +e
	if [ -f "$data/postmaster.pid" ]; then
		(cd "$tmp" && as_pg pg_ctl -D "$data" -m immediate -w stop >/dev/null 2>&1)
	fi
	if [ "$rc" -ne 0 ] && [ -s "$log" ]; then
		{
			echo "--- server log (last 50 lines): $log"
			tail -n 50 "$log"
		} >&2 2>/dev/null
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

chmod 700 "$tmp"
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$tmp"
fi

# The cluster commands run from inside the temporary directory, so that the
# postgres user never needs access to the caller's working directory.
cd "$tmp"

as_pg initdb -D "$data" -U "$dbuser" -A trust --no-sync >"$tmp/initdb.log" 2>&1 || {
	cat "$tmp/initdb.log" >&2
	exit 1
}

cat >>"$data/postgresql.conf" <<EOF
shared_preload_libraries = 'snowflake'
listen_addresses = ''
unix_socket_directories = '$tmp'
port = $port
fsync = off
max_connections = 30
EOF

as_pg pg_ctl -D "$data" -l "$log" -w -t 60 start >/dev/null

export PGHOST=$tmp PGPORT=$port PGUSER=$dbuser
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $dbname" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$dbname" >/dev/null <<'EOF'
CREATE EXTENSION pgtap;
CREATE EXTENSION dblink;
CREATE EXTENSION snowflake;
EOF

# Minting may wait after a start (a worker ID lease, the durable high-water
# mark): the suite starts once it works, or gives up after a minute.
for _ in $(seq 1 600); do
	if psql -X -q -At -d "$dbname" -c "SELECT snowflake_nextval()" >/dev/null 2>"$tmp/mint.err"; then
		minting=yes
		break
	fi
	sleep 0.1
done
if [ "${minting:-no}" != yes ]; then
	echo "pgtap.sh: snowflake_nextval() still fails a minute after the start:" >&2
	cat "$tmp/mint.err" >&2
	exit 1
fi

if [ -n "${PGTAP_FILES:-}" ]; then
	# shellcheck disable=SC2206
	files=($PGTAP_FILES)
else
	files=("$tests_dir"/*.sql)
fi

prove_opts=(--timer --ext .sql -d "$dbname" -h "$tmp" -p "$port" -U "$dbuser")
if [ "${PGTAP_VERBOSE:-0}" = 1 ]; then
	prove_opts+=(--verbose)
fi
if [ -n "${PGTAP_SEED:-}" ]; then
	prove_opts+=(--set "seed=$PGTAP_SEED")
fi

set +e
pg_prove "${prove_opts[@]}" "${files[@]}"
status=$?
set -e

as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null
exit "$status"
