#!/usr/bin/env bash
# bench/idle.sh: what an idle server with the extension costs (docs/idle.md).
#
# Starts a throwaway coordinator (a plain server) and two servers that
# preload snowflake, one embedded and one leasing from the coordinator (fleet),
# and measures on both at once:
#   - WAL bytes written (pg_current_wal_lsn deltas) before the first mint,
#   - after one mint, once IDLE_WAIT seconds have passed: WAL bytes per
#     minute over MEASURE seconds, and the guard's and the lease keeper's
#     wakeups per second (voluntary + involuntary context switches from
#     /proc/PID/status over the same interval),
#   - the latency of the first mint after that idle period, timed inside
#     the server (clock_timestamp() around snowflake_nextval()).
# Nothing else connects; the psql sessions that read the LSNs write no WAL.
# Autovacuum is off (on a fresh cluster it analyzes template1 and vacuums
# the catalogs on its own schedule), and after the first mint VACUUM
# (FREEZE) and CHECKPOINT leave the checkpointer nothing to do, so what is
# measured is the extension's.
#
# Knobs (environment): PGBIN, IDLE_PRE (20: seconds before the first mint),
# IDLE_WAIT (35: seconds idle before measuring), IDLE_MEASURE (60),
# IDLE_EXTRA_CONF (lines appended to both minting servers' postgresql.conf),
# IDLE_PORT (first of three ports, 55480).  Runs as root (cluster commands
# run as postgres through runuser) or as any other user.

set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH="$PGBIN:$PATH"
PRE=${IDLE_PRE:-20}
WAIT=${IDLE_WAIT:-35}
MEASURE=${IDLE_MEASURE:-60}
PORT=${IDLE_PORT:-55480}
EXTRA=${IDLE_EXTRA_CONF:-}

DIR=$(mktemp -d /tmp/snowflake-idle.XXXX)
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$DIR"
	as() { runuser -u postgres -- env PATH="$PATH" "$@"; }
else
	as() { "$@"; }
fi

cleanup() {
	for n in embedded fleet coord; do
		[ -f "$DIR/$n/postmaster.pid" ] && as pg_ctl -D "$DIR/$n" -m immediate stop >/dev/null 2>&1 || true
	done
	rm -rf "$DIR"
}
trap cleanup EXIT

sql() {	# sql NODE-PORT STATEMENT
	as psql -X -q -At -h "$DIR" -p "$1" -d postgres -c "$2"
}

init() {	# init NAME PORT CONF
	as initdb -A trust -N -D "$DIR/$1" >/dev/null
	cat >>"$DIR/$1/postgresql.conf" <<EOF
port = $2
listen_addresses = ''
unix_socket_directories = '$DIR'
fsync = off
$3
EOF
	as pg_ctl -D "$DIR/$1" -l "$DIR/$1.log" -w start >/dev/null
}

init coord $((PORT + 2)) ""
sql $((PORT + 2)) "CREATE ROLE snowflake_fleet LOGIN; CREATE SCHEMA snowflake_state AUTHORIZATION snowflake_fleet;" >/dev/null
init embedded $PORT "shared_preload_libraries = 'snowflake'
autovacuum = off
$EXTRA"
init fleet $((PORT + 1)) "shared_preload_libraries = 'snowflake'
autovacuum = off
snowflake.coordinator = 'host=$DIR port=$((PORT + 2)) dbname=postgres user=snowflake_fleet'
$EXTRA"

EMB=$PORT
FLT=$((PORT + 1))
for p in $EMB $FLT; do sql $p "CREATE EXTENSION snowflake" >/dev/null; done
sleep 2

lsn() { sql "$1" "SELECT pg_current_wal_lsn()"; }
diff_bytes() { sql "$1" "SELECT pg_wal_lsn_diff('$3', '$2')::bigint"; }
pid_of() { sql "$1" "SELECT pid FROM pg_stat_activity WHERE backend_type = '$2'"; }
switches() { awk '/ctxt_switches/ { n += $2 } END { print n }' "/proc/$1/status"; }
first_mint_ms() {
	sql "$1" "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN PERFORM snowflake_nextval(); RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 2); END \$\$" 2>&1 | sed 's/.*NOTICE: *//'
}

# before the first mint
e0=$(lsn $EMB); f0=$(lsn $FLT)
sleep "$PRE"
e1=$(lsn $EMB); f1=$(lsn $FLT)
echo "before the first mint, ${PRE} s: embedded $(diff_bytes $EMB "$e0" "$e1") B, fleet $(diff_bytes $FLT "$f0" "$f1") B of WAL"

echo "first mint after start: embedded $(first_mint_ms $EMB) ms, fleet $(first_mint_ms $FLT) ms"
# Freeze (setting the hint bits a later read would set and log) and
# checkpoint, so that a timed checkpoint finds nothing new.
for p in $EMB $FLT; do sql $p "VACUUM (FREEZE)"; sql $p "CHECKPOINT"; done
sleep "$WAIT"

declare -A pids before
for p in $EMB $FLT; do
	pids[$p,g]=$(pid_of $p 'snowflake guard')
	pids[$p,k]=$(pid_of $p 'snowflake lease keeper')
done
e0=$(lsn $EMB); f0=$(lsn $FLT)
for k in "${!pids[@]}"; do before[$k]=$(switches "${pids[$k]}"); done
sleep "$MEASURE"
for k in "${!pids[@]}"; do after=$(switches "${pids[$k]}"); before[$k]=$(awk -v a="$after" -v b="${before[$k]}" -v s="$MEASURE" 'BEGIN { printf "%.2f", (a - b) / s }'); done
e1=$(lsn $EMB); f1=$(lsn $FLT)
echo "idle (after ${WAIT} s), per minute: embedded $(( $(diff_bytes $EMB "$e0" "$e1") * 60 / MEASURE )) B, fleet $(( $(diff_bytes $FLT "$f0" "$f1") * 60 / MEASURE )) B of WAL"
echo "idle wakeups per second: embedded guard ${before[$EMB,g]}, keeper ${before[$EMB,k]}; fleet guard ${before[$FLT,g]}, keeper ${before[$FLT,k]}"
echo "first mint after idling: embedded $(first_mint_ms $EMB) ms, fleet $(first_mint_ms $FLT) ms"
