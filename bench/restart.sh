#!/usr/bin/env bash
# bench/restart.sh: how soon a server mints again after a restart
# (make bench-restart).
#
# On one throwaway cluster (the clock right: no faking), RESTART_REPS times
# each of: a clean stop (pg_ctl -m fast) and an immediate stop (pg_ctl -m
# immediate, which is a crash as far as the extension can tell), each taken
# while pgbench mints flat out, then pg_ctl start.  A prober starts psql
# sessions in a loop from the moment pg_ctl start is called; the first
# session the server accepts calls snowflake_nextval() until it returns and
# reports, from inside the server, the time from its own backend_start (the
# moment the postmaster accepted the connection) to the first ID.  Printed
# per restart, with the time from calling pg_ctl start to that first ID as
# seen from outside, and the median per kind.
#
# After an immediate stop the extension resumes only once the clock has
# passed the durable high-water mark, which runs up to
# snowflake.high_water_horizon ahead of the last ID minted; after a clean
# stop the mark is the last millisecond minted.  Set the horizon with
# RESTART_EXTRA_CONF (lines appended to postgresql.conf), e.g.
# RESTART_EXTRA_CONF="snowflake.high_water_horizon = '50ms'".
#
# Knobs (environment): RESTART_REPS (5), RESTART_EXTRA_CONF, PGBIN.
# Runs as root (cluster commands as postgres) or as any other user.

set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH="$PGBIN:$PATH"
REPS=${RESTART_REPS:-5}
if ! [[ $REPS =~ ^[0-9]+$ ]] || [ "$REPS" -lt 1 ]; then
	echo "bench-restart: RESTART_REPS must be an integer >= 1 (got '$REPS')" >&2
	exit 1
fi

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../scripts/common.sh"

WORK=$(make_pg_dir)
DATA="$WORK/data"
PORT=$((20000 + RANDOM % 10000))
PGBENCH_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$PGBENCH_PID" ] && kill "$PGBENCH_PID" 2>/dev/null || true
	as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d postgres)

as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 || {
	cat "$WORK/initdb.log" >&2
	exit 1
}
as_pg sh -c "cat >> '$DATA/postgresql.conf'" <<EOF
shared_preload_libraries = 'snowflake'
listen_addresses = ''
unix_socket_directories = '$WORK'
port = $PORT
jit = off
${RESTART_EXTRA_CONF:-}
EOF

start_server() {
	as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" "$@" start >/dev/null
}
start_server -w -t 60
as_pg "${PSQL[@]}" >/dev/null <<'EOF'
CREATE EXTENSION snowflake;
-- Seconds from this session's backend_start to the first ID it gets.
CREATE FUNCTION first_id_seconds() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := (SELECT backend_start FROM pg_stat_activity
	                   WHERE pid = pg_backend_pid());
BEGIN
	LOOP
		BEGIN
			PERFORM snowflake_nextval();
			EXIT;
		EXCEPTION WHEN others THEN
			PERFORM pg_sleep(0.001);
		END;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
EOF
echo 'SELECT snowflake_nextval();' >"$WORK/mint.sql"
chmod 644 "$WORK/mint.sql"
as_pg "${PSQL[@]}" -Atc "SHOW snowflake.high_water_horizon" |
	sed 's/^/bench-restart: snowflake.high_water_horizon = /'

now() { date +%s.%N; }

# One restart of kind $1 (fast or immediate): mint for 2 s, stop while
# minting, start, probe.  Prints "kind inside outside".
one_restart() {
	local kind=$1 t0 out
	as_pg "$PGBIN/pgbench" -n -h "$WORK" -p "$PORT" -U postgres -c 2 -T 4 -f "$WORK/mint.sql" postgres \
		>/dev/null 2>&1 &
	PGBENCH_PID=$!
	sleep 2
	as_pg "$PGBIN/pg_ctl" -D "$DATA" -m "$kind" -w stop >/dev/null
	wait "$PGBENCH_PID" 2>/dev/null || true
	PGBENCH_PID=
	t0=$(now)
	start_server
	until out=$(as_pg "${PSQL[@]}" -Atc "SELECT first_id_seconds()" 2>/dev/null); do
		sleep 0.002
	done
	echo "$kind $out $(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')"
	# wait for the start to finish before the next stop
	as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null
}

RESULTS="$WORK/results"
: >"$RESULTS"
for _ in $(seq 1 "$REPS"); do
	for kind in fast immediate; do
		one_restart "$kind" | tee -a "$RESULTS" |
			awk '{ printf "bench-restart: %-9s first ID %.3f s after the connection was accepted, %.3f s after pg_ctl start\n", $1, $2, $3 }'
	done
done
median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f %.3f\n", a[int((NR + 1) / 2)], a[NR] }'; }
for kind in fast immediate; do
	read -r in_med in_max < <(awk -v k="$kind" '$1 == k { print $2 }' "$RESULTS" | median)
	read -r out_med _ < <(awk -v k="$kind" '$1 == k { print $3 }' "$RESULTS" | median)
	printf "bench-restart: %-9s median of %d: %s s after the connection was accepted (max %s), %s s after pg_ctl start\n" \
		"$kind" "$REPS" "$in_med" "$in_max" "$out_med"
done
