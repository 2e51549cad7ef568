#!/usr/bin/env bash
# Build and install snowflake, start a throwaway server that preloads it,
# and show a table filling with DEFAULT snowflake_nextval() and decoding.
# Run as root on Debian 12; the server is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
	bash scripts/install-deps.sh >/dev/null
fi
. scripts/common.sh

make -s with_llvm=no >/dev/null
make -s with_llvm=no install >/dev/null

dir=$(make_pg_dir)
cleanup() {
	as_pg pg_ctl -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

as_pg initdb -D "$dir/data" -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'snowflake'
listen_addresses = ''
unix_socket_directories = '$dir'
CONF
as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

as_pg psql -h "$dir" -d postgres -X -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION snowflake;
CREATE TABLE orders (
	id bigint PRIMARY KEY DEFAULT snowflake_nextval(),
	item text NOT NULL
);
INSERT INTO orders (item) VALUES ('apple'), ('pear'), ('plum');
INSERT INTO orders (item) SELECT 'bulk ' || g FROM generate_series(1, 10000) g;

\echo 'The first rows, decoded:'
SELECT o.id, o.item, d.ts, d.worker_id, d.sequence
FROM orders o, snowflake_decode(o.id) d
ORDER BY o.id LIMIT 5;

\echo 'Rows, distinct IDs, and whether IDs follow insertion order:'
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids,
       bool_and(id > prev) AS increasing
FROM (SELECT id, lag(id, 1, 0::bigint) OVER (ORDER BY ctid) AS prev FROM orders) s;

\echo 'A batch of five, and the smallest ID of a minute ago:'
SELECT snowflake_batch(5);
SELECT snowflake_from_timestamp(now() - interval '1 minute') AS since_a_minute_ago;

\echo 'Decoding an ID from another system (Discord):'
SELECT * FROM snowflake_decode(175928847299117063, 'discord');

\echo 'Slots of this server, each under a leased worker ID:'
SELECT slot, worker_id, lease_state, fencing_deadline, ids_issued, ms_saturated
FROM snowflake_status;
SQL
