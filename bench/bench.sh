#!/usr/bin/env bash
# bench/bench.sh: the snowflake extension's performance benchmark (make bench).
#
# Measures, in one run on one throwaway cluster, the figures of the
# "Performance" section of the spec, each against PostgreSQL's own floor in
# the same run, and prints one table: value, anchor value, ratio, target, met.
#
# Timing: the single-statement measures are timed inside the server, with
# clock_timestamp() read just before and just after a PL/pgSQL EXECUTE of the
# statement (function bench_time below), so psql start-up and round trips are
# not counted; planning the statement is (a few microseconds against
# 100+ ms).  Every measure is the median of BENCH_REPS repetitions after one
# warm-up repetition, the competing statements interleaved, their order
# reversed every other repetition.  pgbench measures alternate their anchor
# and subject, BENCH_ROUNDS rounds each.
#
# Requires: PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin) and the
# extension installed (make install).  Runs as root (cluster commands run as
# postgres through runuser) or as any other user (as that user).
#
# Knobs (environment): BENCH_REPS (7), BENCH_INSERT_REPS (5), BENCH_ROUNDS (5),
# BENCH_PGBENCH_SECONDS (5), BENCH_LAT_WARMUP (1: seconds cut from the start
# of each latency log), BENCH_ROWS (1000000), PGBIN, BENCH_EXTRA_CONF (lines
# appended to postgresql.conf), BENCH_KEEP=1 (keep the temp dir).
#
# A missed target is reported as MISSED; the exit status is still 0 (this is a
# benchmark, not a test).  A statement that fails aborts with exit status 1.
# The server is stopped and the temp dir removed on any exit; a SIGTERM sent
# to this script alone takes effect when the step running at the time ends
# (Ctrl-C reaches every process of the group and stops at once).

set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH="$PGBIN:$PATH"
REPS=${BENCH_REPS:-7}
INSERT_REPS=${BENCH_INSERT_REPS:-5}
ROUNDS=${BENCH_ROUNDS:-5}
PGB_T=${BENCH_PGBENCH_SECONDS:-5}
LAT_WARMUP=${BENCH_LAT_WARMUP:-1}
ROWS=${BENCH_ROWS:-1000000}

for v in REPS INSERT_REPS ROUNDS PGB_T ROWS LAT_WARMUP; do
	min=1
	[ "$v" = LAT_WARMUP ] && min=0
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -lt "$min" ]; then
		echo "bench: $v must be an integer >= $min (got '${!v}')" >&2
		exit 1
	fi
done

for b in initdb pg_ctl postgres psql pgbench; do
	if [ ! -x "$PGBIN/$b" ]; then
		echo "bench: $PGBIN/$b not found (install postgresql-15, or set PGBIN)" >&2
		exit 1
	fi
done

# as_pg: run a command as the cluster's owner (postgres when we are root).
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../scripts/common.sh"

START_TIME=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# How busy the machine is before we start anything: CPU time not idle over
# one second, from /proc/stat (others' load skews every figure here).
cpu_busy_pct() {
	local a b
	a=$(awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6 }' /proc/stat)
	echo "$a $b" | awk '{ t = $3 - $1; i = $4 - $2; p = 0; if (t > 0) p = 100 * (t - i) / t; printf "%.0f", p }'
}
BUSY_BEFORE=$(cpu_busy_pct)
WORK=$(mktemp -d /tmp/snowflake-bench.XXXXXX)
DATA="$WORK/data"
LAT="$WORK/lat"
PORT=$((20000 + RANDOM % 10000))
BG_PIDS=()
SERVER_STARTED=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local p
	for p in "${BG_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	if [ "$SERVER_STARTED" = 1 ]; then
		as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chmod 700 "$WORK"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; fi
cd "$WORK"
as_pg mkdir -p "$LAT"

# psql against the bench cluster: quiet, stop at the first error.
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d postgres)
psql_c() { as_pg "${PSQL[@]}" -At -c "$1"; }

log() { printf '[%3ds] %s\n' "$(($(date +%s) - START_TIME))" "$*" >&2; }

# ---------------------------------------------------------------- cluster ---
log "initdb in $WORK (port $PORT)"
as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 || {
	cat "$WORK/initdb.log" >&2
	exit 1
}
cat >>"$WORK/conf.extra" <<EOF
# snowflake bench
shared_preload_libraries = 'snowflake'
listen_addresses = ''
unix_socket_directories = '$WORK'
port = $PORT
max_connections = 40
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
jit = off
log_min_messages = warning
logging_collector = off
${BENCH_EXTRA_CONF:-}
EOF
as_pg sh -c "cat '$WORK/conf.extra' >> '$DATA/postgresql.conf'"

as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null || {
	echo "bench: server did not start; log:" >&2
	cat "$WORK/server.log" >&2
	exit 1
}
SERVER_STARTED=1

psql_c "CREATE EXTENSION snowflake" >/dev/null

# Minting may wait for the background worker to lease worker IDs.
log "waiting for snowflake_nextval() to mint"
ok=0
for _ in $(seq 1 120); do
	if err=$(psql_c "SELECT snowflake_nextval()" 2>&1); then
		ok=1
		break
	fi
	sleep 0.5
done
if [ "$ok" != 1 ]; then
	echo "bench: snowflake_nextval() never succeeded; last error:" >&2
	echo "$err" >&2
	tail -n 30 "$WORK/server.log" >&2
	exit 1
fi

# ------------------------------------------------------------------ setup ---
as_pg "${PSQL[@]}" >/dev/null <<'EOF'
CREATE TABLE bench_result (measure text NOT NULL, rep integer NOT NULL,
	value float8 NOT NULL);
CREATE TABLE bench_conc (tag text NOT NULL, rep integer NOT NULL,
	sess integer NOT NULL, t0 float8 NOT NULL, t1 float8 NOT NULL);
CREATE TABLE bench_lat (measure text NOT NULL, round integer NOT NULL,
	done float8 NOT NULL, lat_us bigint NOT NULL);

-- Milliseconds one statement takes inside the server; recorded under
-- (measure, rep).
CREATE FUNCTION bench_time(measure text, rep integer, q text)
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	t1 timestamptz;
	ms float8;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q;
	t1 := clock_timestamp();
	ms := extract(epoch FROM t1 - t0) * 1000;
	INSERT INTO bench_result VALUES (measure, rep, ms);
	RETURN ms;
END $$;

-- Wait (sleep, then spin) until the Unix time start_at, run q, and record
-- when it started and ended: sessions launched together start together no
-- matter how long their psql took to connect.
CREATE FUNCTION bench_at(tag text, rep integer, sess integer,
	start_at float8, q text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 float8;
	t1 float8;
	nap float8;
BEGIN
	nap := start_at - extract(epoch FROM clock_timestamp()) - 0.02;
	IF nap > 0 THEN
		PERFORM pg_sleep(nap);
	END IF;
	WHILE extract(epoch FROM clock_timestamp()) < start_at LOOP
	END LOOP;
	t0 := extract(epoch FROM clock_timestamp());
	EXECUTE q;
	t1 := extract(epoch FROM clock_timestamp());
	INSERT INTO bench_conc VALUES (tag, rep, sess, t0, t1);
END $$;

CREATE SEQUENCE bench_seq;
CREATE TABLE bench_ins_sf (id bigint PRIMARY KEY DEFAULT snowflake_nextval(),
	n integer NOT NULL) WITH (autovacuum_enabled = false);
CREATE TABLE bench_ins_bs (id bigserial PRIMARY KEY,
	n integer NOT NULL) WITH (autovacuum_enabled = false);
EOF

# --------------------------------------------- 1-5: one statement, timed ---
Q_RANDOM="SELECT count(random()) FROM generate_series(1, $ROWS)"
Q_SF="SELECT count(snowflake_nextval()) FROM generate_series(1, $ROWS)"
Q_SEQ="SELECT count(nextval('bench_seq')) FROM generate_series(1, $ROWS)"
Q_UUID="SELECT count(gen_random_uuid()) FROM generate_series(1, $ROWS)"
Q_GS="SELECT count(g) FROM generate_series(1, $ROWS) g"
Q_BATCH="SELECT count(*) FROM snowflake_batch($ROWS)"

sqlq() { printf "%s" "${1//\'/\'\'}"; } # quote for a SQL string literal

log "1-5: per-row and batch statements, $REPS reps + 1 warm-up"
{
	for rep in $(seq 0 "$REPS"); do
		list=("random:$Q_RANDOM" "sf_nextval:$Q_SF" "seq_nextval:$Q_SEQ"
			"uuid:$Q_UUID" "gs:$Q_GS" "sf_batch:$Q_BATCH")
		if [ $((rep % 2)) = 1 ]; then
			rev=()
			for ((i = ${#list[@]} - 1; i >= 0; i--)); do rev+=("${list[i]}"); done
			list=("${rev[@]}")
		fi
		for item in "${list[@]}"; do
			m=${item%%:*}
			q=${item#*:}
			echo "SELECT bench_time('$m', $rep, '$(sqlq "$q")');"
		done
	done
} | as_pg "${PSQL[@]}" >/dev/null

# ----------------------------------------- 6: two backends minting at once ---
log "6: one session vs two concurrent sessions (and the same for random() as a control), $REPS reps + 1 warm-up"
# run_at tag rep sess start_at query: one session, started at start_at
run_at() {
	as_pg "${PSQL[@]}" -c "SELECT bench_at('$1', $2, $3, $4, '$(sqlq "$5")')" >/dev/null
}
for rep in $(seq 0 "$REPS"); do
	# order alternates so neither always follows the other
	if [ $((rep % 2)) = 0 ]; then
		order=(one two ctl_one ctl_two)
	else
		order=(ctl_two ctl_one two one)
	fi
	for tag in "${order[@]}"; do
		case $tag in
		ctl_*) q=$Q_RANDOM ;;
		*) q=$Q_SF ;;
		esac
		start_at=$(psql_c "SELECT extract(epoch FROM clock_timestamp()) + 0.5")
		BG_PIDS=()
		run_at "$tag" "$rep" 1 "$start_at" "$q" &
		BG_PIDS+=($!)
		case $tag in
		*two)
			run_at "$tag" "$rep" 2 "$start_at" "$q" &
			BG_PIDS+=($!)
			;;
		esac
		for p in "${BG_PIDS[@]}"; do wait "$p"; done
		BG_PIDS=()
	done
done
psql_c "INSERT INTO bench_result
	SELECT 'rate_' || tag, rep,
	       count(*) * $ROWS / (max(t1) - min(t0)) / 1e6
	FROM bench_conc GROUP BY tag, rep;
	INSERT INTO bench_result
	SELECT 'skew_' || tag, rep, (max(t0) - min(t0)) * 1000
	FROM bench_conc WHERE tag IN ('two', 'ctl_two') GROUP BY tag, rep;
	INSERT INTO bench_result
	SELECT 'elapsed_' || tag, rep, avg(t1 - t0) * 1000
	FROM bench_conc GROUP BY tag, rep" >/dev/null

# ------------------------------------------------- 7: INSERT ... SELECT ---
log "7: INSERT ... SELECT $ROWS rows, snowflake default vs bigserial, $INSERT_REPS reps + 1 warm-up"
{
	for rep in $(seq 0 "$INSERT_REPS"); do
		if [ $((rep % 2)) = 0 ]; then order=(sf bs); else order=(bs sf); fi
		echo "TRUNCATE bench_ins_sf, bench_ins_bs;"
		for t in "${order[@]}"; do
			echo "CHECKPOINT;"
			echo "SELECT bench_time('insert_$t', $rep, 'INSERT INTO bench_ins_$t (n) SELECT g FROM generate_series(1, $ROWS) g');"
		done
	done
	echo "TRUNCATE bench_ins_sf, bench_ins_bs;"
	echo "CHECKPOINT;"
} | as_pg "${PSQL[@]}" >/dev/null

# ---------------------------------------------------------- 8, 9: pgbench ---
as_pg sh -c "
	echo 'SELECT 1;' > '$WORK/select1.sql'
	echo 'SELECT snowflake_nextval();' > '$WORK/nextval.sql'
	echo 'SELECT snowflake_batch(1000);' > '$WORK/batch.sql'
	echo 'SELECT generate_series(1, 1000);' > '$WORK/gs.sql'
"
PGBENCH=("$PGBIN/pgbench" -n -h "$WORK" -p "$PORT" -U postgres -T "$PGB_T")

# pgbench_tps measure round clients script
pgbench_tps() {
	local out tps
	if ! out=$(as_pg "${PGBENCH[@]}" -c "$3" -j 2 -f "$WORK/$4" postgres 2>&1); then
		echo "bench: pgbench ($1) failed:" >&2
		echo "$out" >&2
		exit 1
	fi
	tps=$(printf '%s\n' "$out" | awk '/^tps = / { print $3; exit }')
	if [ -z "$tps" ]; then
		echo "bench: no tps in pgbench output ($1):" >&2
		echo "$out" >&2
		exit 1
	fi
	echo "$1 $2 $tps" >>"$WORK/tps.txt"
}

# pgbench_lat measure round clients script: per-transaction log (-l); the
# lines (completion time, latency in us) go to lat.txt.
pgbench_lat() {
	local out prefix="$LAT/$1_$2"
	if ! out=$(as_pg "${PGBENCH[@]}" -c "$3" -j 2 -l --log-prefix="$prefix" \
		-f "$WORK/$4" postgres 2>&1); then
		echo "bench: pgbench ($1) failed:" >&2
		echo "$out" >&2
		exit 1
	fi
	# log line: client_id transaction_no latency_us script_no epoch_s epoch_us
	cat "$prefix".* | awk -v m="$1" -v r="$2" \
		'NF >= 6 { printf "%s\t%s\t%d.%06d\t%s\n", m, r, $5, $6, $3 }' >>"$WORK/lat.txt"
	rm -f "$prefix".*
}

log "8: pgbench TPS, 8 clients, SELECT 1 vs SELECT snowflake_nextval(), $ROUNDS x ${PGB_T}s each"
: >"$WORK/tps.txt"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		pgbench_tps tps_select1 "$r" 8 select1.sql
		pgbench_tps tps_nextval "$r" 8 nextval.sql
	else
		pgbench_tps tps_nextval "$r" 8 nextval.sql
		pgbench_tps tps_select1 "$r" 8 select1.sql
	fi
done

log "9: pgbench p99 latency, snowflake_batch(1000) vs generate_series(1, 1000), 2 and 8 clients, $ROUNDS x ${PGB_T}s each"
: >"$WORK/lat.txt"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		pgbench_lat p99_gs_c8 "$r" 8 gs.sql
		pgbench_lat p99_batch_c8 "$r" 8 batch.sql
		pgbench_lat p99_batch_c2 "$r" 2 batch.sql
		pgbench_lat p99_gs_c2 "$r" 2 gs.sql
	else
		pgbench_lat p99_gs_c2 "$r" 2 gs.sql
		pgbench_lat p99_batch_c2 "$r" 2 batch.sql
		pgbench_lat p99_batch_c8 "$r" 8 batch.sql
		pgbench_lat p99_gs_c8 "$r" 8 gs.sql
	fi
done

# Load pgbench figures (after every timed run, so loading costs nothing).
awk '{ printf "INSERT INTO bench_result VALUES (%s, %d, %s);\n", "'\''" $1 "'\''", $2, $3 }' \
	"$WORK/tps.txt" | as_pg "${PSQL[@]}" >/dev/null
as_pg "${PSQL[@]}" -c "\\copy bench_lat FROM '$WORK/lat.txt'" >/dev/null
# p99 per round, the first LAT_WARMUP seconds of each run left out.
psql_c "INSERT INTO bench_result
	SELECT l.measure, l.round,
	       percentile_cont(0.99) WITHIN GROUP (ORDER BY l.lat_us) / 1000.0
	FROM bench_lat l
	JOIN (SELECT measure, round, min(done) AS first FROM bench_lat
	      GROUP BY measure, round) f USING (measure, round)
	WHERE l.done >= f.first + $LAT_WARMUP
	GROUP BY l.measure, l.round" >/dev/null

# ----------------------------------------------------------------- report ---
if [ "$ROWS" = 1000000 ]; then N=1M; else N=$ROWS; fi
log "done"
echo
echo "snowflake benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:    $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "postgres:   $(psql_c "SELECT version()")"
LIB="$("$PGBIN/pg_config" --pkglibdir)/snowflake.so"
echo "extension:  snowflake $(psql_c "SELECT extversion FROM pg_extension WHERE extname = 'snowflake'"), worker_slots=$(psql_c "SHOW snowflake.worker_slots"); $LIB $(md5sum <"$LIB" | cut -c1-12) of $(date -u -r "$LIB" '+%Y-%m-%d %H:%M:%S UTC')"
echo "settings:   shared_buffers=512MB, fsync=on, jit=off, rows=$ROWS, reps=$REPS (insert $INSERT_REPS) after 1 warm-up, pgbench ${ROUNDS} rounds x ${PGB_T}s -j 2 (latency: first ${LAT_WARMUP}s of each run cut)"
echo "timing:     1-7 inside the server (clock_timestamp() around a PL/pgSQL EXECUTE); value = median, spread = min..max"
echo

as_pg "${PSQL[@]}" -P footer=off <<EOF
WITH s AS (
	SELECT measure, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS med,
	       min(value) AS lo, max(value) AS hi, count(*) AS n
	FROM bench_result WHERE rep > 0 GROUP BY measure
), spec(ord, label, measure, anchor, unit, kind, target) AS (VALUES
	( 1, '1 floor: count(random()) x$N',              'random',       NULL,           'ms',   NULL, NULL),
	( 2, '2 count(snowflake_nextval()) x$N  /1',      'sf_nextval',   'random',       'ms',   'le', 1.25),
	( 3, '3 count(nextval(seq)) x$N  /1',             'seq_nextval',  'random',       'ms',   'info', NULL),
	( 4, '3 count(gen_random_uuid()) x$N  /1',        'uuid',         'random',       'ms',   'info', NULL),
	( 5, '4 floor: count(g) generate_series x$N',     'gs',           NULL,           'ms',   NULL, NULL),
	( 6, '5 count(*) snowflake_batch($N)  /4',        'sf_batch',     'gs',           'ms',   'le', 1.3),
	( 7, '6 one session minting (M IDs/s)',           'rate_one',     NULL,           'M/s',  NULL, NULL),
	( 8, '6 two sessions minting (M IDs/s)  /one',    'rate_two',     'rate_one',     'M/s',  'ge', 1.8),
	( 8.1, '6 control: random() two sessions /one',   'rate_ctl_two', 'rate_ctl_one', 'M/s', 'info', NULL),
	( 9, '7 INSERT $N into bigserial PK',             'insert_bs',    NULL,           'ms',   NULL, NULL),
	(10, '7 INSERT $N, DEFAULT snowflake_nextval()',  'insert_sf',    'insert_bs',    'ms',   'le', 1.0),
	(11, '8 pgbench c8 SELECT 1 (TPS)',               'tps_select1',  NULL,           'tps',  NULL, NULL),
	(12, '8 pgbench c8 snowflake_nextval() (TPS)',    'tps_nextval',  'tps_select1',  'tps',  'ge', 0.95),
	(12.5, '9 p99 c2 generate_series(1,1000) (ms)',   'p99_gs_c2',    NULL,           'ms',   NULL, NULL),
	(13, '9 p99 c2 snowflake_batch(1000) (ms)',       'p99_batch_c2', 'p99_gs_c2',    'ms',   'abs', 2.0),
	(14, '9 p99 c8 generate_series(1,1000) (ms)',     'p99_gs_c8',    NULL,           'ms',   NULL, NULL),
	(15, '9 p99 c8 snowflake_batch(1000) (ms)',       'p99_batch_c8', 'p99_gs_c8',    'ms',   'le', 1.2)
), f AS (
	SELECT spec.*, v.med AS val, v.lo, v.hi, v.n, a.med AS aval,
	       v.med / nullif(a.med, 0) AS ratio
	FROM spec LEFT JOIN s v ON v.measure = spec.measure
	          LEFT JOIN s a ON a.measure = spec.anchor
)
SELECT label AS measure,
       CASE unit WHEN 'tps' THEN to_char(val, 'FM9999999990')
                 WHEN 'M/s' THEN to_char(val, 'FM9990.00')
                 WHEN 'ms' THEN CASE WHEN val < 10 THEN to_char(val, 'FM9990.000')
                                     ELSE to_char(val, 'FM9999990.0') END
       END AS value,
       CASE unit WHEN 'tps' THEN to_char(lo, 'FM9999999990') || '..' || to_char(hi, 'FM9999999990')
                 WHEN 'M/s' THEN to_char(lo, 'FM9990.00') || '..' || to_char(hi, 'FM9990.00')
                 ELSE CASE WHEN val < 10 THEN to_char(lo, 'FM9990.000') || '..' || to_char(hi, 'FM9990.000')
                           ELSE to_char(lo, 'FM9999990.0') || '..' || to_char(hi, 'FM9999990.0') END
       END || ' (n=' || n || ')' AS spread,
       CASE WHEN aval IS NULL THEN ''
            WHEN unit = 'tps' THEN to_char(aval, 'FM9999999990')
            WHEN unit = 'M/s' THEN to_char(aval, 'FM9990.00')
            WHEN aval < 10 THEN to_char(aval, 'FM9990.000')
            ELSE to_char(aval, 'FM9999990.0') END AS anchor,
       coalesce(to_char(ratio, 'FM990.000'), '') AS ratio,
       CASE kind WHEN 'le' THEN '<= ' || target WHEN 'ge' THEN '>= ' || target
                 WHEN 'abs' THEN '< ' || target || ' ms' WHEN 'info' THEN 'info'
                 ELSE '' END AS target,
       CASE WHEN kind IS NULL OR kind = 'info' THEN ''
            WHEN val IS NULL THEN 'NO DATA'
            WHEN kind = 'le' AND ratio <= target THEN 'yes'
            WHEN kind = 'ge' AND ratio >= target THEN 'yes'
            WHEN kind = 'abs' AND val < target THEN 'yes'
            ELSE 'MISSED' END AS met
FROM f ORDER BY ord;
EOF

echo
med() { # median of a measure, formatted
	psql_c "SELECT coalesce(to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY value), 'FM999990.000'), '-')
	        FROM bench_result WHERE measure = '$1' AND rep > 0"
}
echo "6 detail:   ms per session (median): snowflake one $(med elapsed_one), two $(med elapsed_two);" \
	"random() one $(med elapsed_ctl_one), two $(med elapsed_ctl_two); start skew of the pair: $(med skew_two) / $(med skew_ctl_two) ms"
ctl_ok=$(psql_c "SELECT (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value) FROM bench_result WHERE measure = 'rate_ctl_two' AND rep > 0)
	>= 1.8 * (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value) FROM bench_result WHERE measure = 'rate_ctl_one' AND rep > 0)")
if [ "$ctl_ok" != t ]; then
	echo "6 note:     the random() control itself stayed below 1.8x: the machine did not give two backends two free cores during this run, so 6 is inconclusive"
fi
echo "load:       CPU ${BUSY_BEFORE}% busy in the second before the run (others' load); 1/5/15-min load average $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end ($(nproc) CPUs)"
if [ "$BUSY_BEFORE" -ge 10 ]; then
	echo "load note:  the machine was already ${BUSY_BEFORE}% busy before the run: treat every figure as noisy and run again on a quiet machine"
fi
echo "slots after the run:"
as_pg "${PSQL[@]}" -P footer=off -c "SELECT slot, worker_id, lease_state, ids_issued, ms_saturated, waits, refusals, clock_regressions FROM snowflake_status ORDER BY slot" ||
	echo "  (snowflake_status unavailable)"

psql_c "SELECT count(*) FILTER (WHERE met = 'yes') || ' of ' || count(*) || ' targets met' ||
               coalesce('; MISSED: ' || string_agg(measure, ', ') FILTER (WHERE met <> 'yes'), '')
        FROM (
	SELECT m.measure,
	       CASE WHEN v IS NULL THEN 'no data'
	            WHEN (k = 'le' AND v <= t) OR (k = 'ge' AND v >= t) OR (k = 'abs' AND v < t) THEN 'yes'
	            ELSE 'no' END AS met
	FROM (VALUES ('2 snowflake_nextval/random', 'sf_nextval', 'random', 'le', 1.25),
	             ('5 snowflake_batch/generate_series', 'sf_batch', 'gs', 'le', 1.3),
	             ('6 two sessions/one', 'rate_two', 'rate_one', 'ge', 1.8),
	             ('7 insert snowflake/bigserial', 'insert_sf', 'insert_bs', 'le', 1.0),
	             ('8 TPS nextval/SELECT 1', 'tps_nextval', 'tps_select1', 'ge', 0.95),
	             ('9 p99 batch c2 < 2 ms', 'p99_batch_c2', NULL, 'abs', 2.0),
	             ('9 p99 batch c8/generate_series c8', 'p99_batch_c8', 'p99_gs_c8', 'le', 1.2))
	     AS m(measure, subj, anc, k, t)
	CROSS JOIN LATERAL (
		SELECT (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY value)
		        FROM bench_result WHERE measure = m.subj AND rep > 0) /
		       CASE WHEN m.anc IS NULL THEN 1 ELSE
		       (SELECT nullif(percentile_cont(0.5) WITHIN GROUP (ORDER BY value), 0)
		        FROM bench_result WHERE measure = m.anc AND rep > 0) END AS v) x
	) r"
log "total run time $(($(date +%s) - START_TIME))s"
