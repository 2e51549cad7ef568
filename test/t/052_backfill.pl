# Copyright (c) the snowflake authors
#
# Backfilling history under reserved worker IDs.
#
# snowflake.reserved_worker_ids lists worker IDs the lease keeper never
# leases for live minting; a pinned snowflake.worker_id on one of them, or a
# list that does not parse or fit, stops the server at start.  Only a
# superuser sees or sets it.  snowflake_backfill_id(ts, worker_id, seq)
# gives historical rows IDs from their own timestamps under a reserved
# worker ID, with the one-statement recipe of docs/adoption.md: unique,
# ordered by time, and a millisecond with more rows than the sequence field
# holds is refused (SF010) with nothing written; a worker ID that is not
# reserved is refused (SF009).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use SnowflakeTest;
use FleetTest;

# --- the lease keeper passes over reserved worker IDs ------------------------
# Without the reservation, the eight slots would lease worker IDs 0 to 7.
my $node = new_node('backfill',
	conf => "snowflake.reserved_worker_ids = '0-3, 1000-1023'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $r = wait_for_mint($node);
ok($r->{ok}, 'a server with reserved worker IDs mints');
ok( poll_until($node,
		"SELECT count(*) = 8 FROM snowflake_status WHERE lease_state = 'held'"),
	'every slot holds a lease');
is( $node->safe_psql('postgres',
		"SELECT string_agg(worker_id::text, ',' ORDER BY worker_id) FROM snowflake_status"),
	'4,5,6,7,8,9,10,11',
	'the slots lease the lowest worker IDs that are not reserved');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM snowflake_state.worker_lease WHERE worker_id BETWEEN 0 AND 3 OR worker_id >= 1000"),
	'0', 'no reserved worker ID was ever leased');

# A fleet: a server that reserves 0-3 passes over them on the coordinator
# too.
my $coord = new_coordinator('backfill_coord');
my $fleet = new_fleet_node('backfill_fleet', $coord,
	conf => "snowflake.reserved_worker_ids = '0-3'\nsnowflake.worker_slots = 4\n");
$fleet->start;
$fleet->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($fleet)->{ok}, 'a fleet server with reserved worker IDs mints');
ok(poll_until($fleet, "SELECT count(*) = 4 FROM snowflake_status WHERE lease_state = 'held'"),
	'fleet: every slot holds a lease');
is(slot_states($fleet), '4:held,5:held,6:held,7:held',
	'fleet: the slots lease from the coordinator the lowest worker IDs that are not reserved');
$fleet->stop;
$coord->stop;

# Only a superuser sees or sets the setting.
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
$r = try_sql_as($node, 'app', 'SHOW snowflake.reserved_worker_ids');
like($r->{err}, qr/must be superuser or have privileges of pg_read_all_settings/,
	'an ordinary role cannot read snowflake.reserved_worker_ids');
$r = try_sql_as($node, 'app', "SET snowflake.reserved_worker_ids = '5'");
isnt($r->{ret}, 0, 'an ordinary role cannot set it');
$r = try_sql($node, "ALTER SYSTEM SET snowflake.reserved_worker_ids = '1000-1023'; SELECT 1");
is($r->{ret}, 0, 'a superuser sets it (taking effect at the next start)');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET snowflake.reserved_worker_ids');

# --- backfill ------------------------------------------------------------------
# 20,000 historical rows over ten days, several rows in many milliseconds
# (inserted out of time order), keyed by a bigserial.
$node->safe_psql('postgres', q{
	CREATE TABLE events (id bigserial PRIMARY KEY, created_at timestamptz, sid bigint);
	INSERT INTO events (created_at)
	SELECT timestamptz '2024-03-01 00:00:00+00'
	       + (g % 4000) * interval '3 minutes 37.123 seconds'
	       + (g % 3) * interval '0.2 milliseconds'
	FROM generate_series(20000, 1, -1) g;
	GRANT SELECT, UPDATE ON events TO app;
});
my $recipe = q{
	UPDATE events e SET sid = b.sid
	FROM (SELECT id, snowflake_backfill_id(created_at, 1000,
	             row_number() OVER (PARTITION BY snowflake_from_timestamp(created_at)
	                                ORDER BY created_at, id) - 1) AS sid
	      FROM events) b
	WHERE e.id = b.id};
$r = try_sql_as($node, 'app', $recipe);
is($r->{ret}, 0, 'the backfill recipe runs as an ordinary role') or note $r->{err};
is( $node->safe_psql('postgres', q{
		SELECT count(*), count(DISTINCT sid), max(cnt)
		FROM events, (SELECT max(c) AS cnt FROM (SELECT count(*) c FROM events
		               GROUP BY date_trunc('milliseconds', created_at)) m) mx
		GROUP BY mx.cnt}),
	'20000|20000|5', 'every row got an ID, all distinct (up to 5 rows in one millisecond)');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM (
			SELECT sid, lag(sid) OVER (ORDER BY created_at, id) AS prev FROM events) s
		WHERE sid <= prev}),
	'0', 'backfilled IDs are ordered by time (ties by the old key)');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM events
		WHERE snowflake_worker_id(sid) <> 1000
		   OR snowflake_timestamp(sid) <> date_trunc('milliseconds', created_at)}),
	'0', 'each ID carries the reserved worker ID and its row\'s own millisecond');

# The backfilled column then becomes the live one.
my $adopt = $node->safe_psql('postgres',
	"SELECT count(*) FROM snowflake_adopt_column('events', 'sid', false) WHERE applied");
is($adopt, '1', 'the backfilled column is adopted (its default set)');
$node->safe_psql('postgres',
	"INSERT INTO events (created_at) SELECT now() FROM generate_series(1, 100)");
is( $node->safe_psql('postgres', q{
		SELECT (SELECT min(sid) FROM events WHERE created_at > '2025-01-01')
		     > (SELECT max(sid) FROM events WHERE created_at < '2025-01-01')
		   AND (SELECT count(*) FROM events WHERE snowflake_worker_id(sid) BETWEEN 1000 AND 1023
		          AND created_at > '2025-01-01') = 0}),
	't', 'new rows sort above the history, minted under worker IDs that are not reserved');

# --- refusals ----------------------------------------------------------------------
# A millisecond with more rows than 12 sequence bits hold: refused, nothing written.
$node->safe_psql('postgres', q{
	CREATE TABLE crowded (id bigserial PRIMARY KEY, created_at timestamptz, sid bigint);
	INSERT INTO crowded (created_at)
	SELECT timestamptz '2024-05-05 05:05:05.005+00' FROM generate_series(1, 4097);
	INSERT INTO crowded (created_at)
	SELECT timestamptz '2024-05-05 05:05:05.004+00' FROM generate_series(1, 4096);
});
$r = try_sql($node, $recipe =~ s/events/crowded/gr);
is($r->{sqlstate}, 'SF010', 'a millisecond with 4,097 rows is refused with SF010');
like($r->{err}, qr/millisecond 2024-05-05 05:05:05\.005\+00 has more rows than the sequence field holds/,
	'the error names the millisecond');
like($r->{err}, qr/HINT:  Spread that millisecond's rows over several reserved worker IDs/, 'with a hint');
is($node->safe_psql('postgres', 'SELECT count(sid) FROM crowded'), '0', 'nothing was written');
is( $node->safe_psql('postgres', q{
		SELECT snowflake_sequence(snowflake_backfill_id('2024-05-05 05:05:05.004+00', 1001, 4095))}),
	'4095', 'the last sequence number of a millisecond is given, not wrapped');

$r = try_sql($node, "SELECT snowflake_backfill_id(now(), 5, 0)");
is($r->{sqlstate}, 'SF009', 'a worker ID that live minting may use is refused with SF009');
like($r->{err}, qr/worker ID 5 is not reserved for backfilling/, 'the error names the worker ID');
$r = try_sql($node, "SELECT snowflake_backfill_id(now(), 1000, -1)");
is($r->{sqlstate}, '22003', 'a negative sequence number is refused');
$r = try_sql($node, "SELECT snowflake_backfill_id('2023-12-31 23:59:59+00', 1000, 0)");
is($r->{sqlstate}, '22008', 'a timestamp before the epoch is refused');
is($node->safe_psql('postgres', "SELECT snowflake_backfill_id(NULL, 1000, 0) IS NULL"),
	't', 'a NULL timestamp gives NULL');
$node->stop;

# --- configurations that stop the server at start ------------------------------------
sub refuses_to_start
{
	my ($conf, $msg, $what) = @_;
	$node->append_conf('postgresql.conf', $conf);
	my $log_from = -s $node->logfile;
	ok(!$node->start(fail_ok => 1), "$what: the server does not start");
	like(slurp_file($node->logfile, $log_from), $msg, "$what: the log says why");
	return;
}
refuses_to_start("snowflake.worker_id = 1000\n",
	qr/snowflake\.worker_id pins slot 0 onto worker ID 1000, which snowflake\.reserved_worker_ids reserves/,
	'a pinned worker ID that is reserved');
refuses_to_start("snowflake.worker_id = 0\nsnowflake.reserved_worker_ids = '1024'\n",
	qr/reserved worker ID 1024 does not fit in 10 worker bits/, 'a reserved ID past the worker field');
refuses_to_start("snowflake.worker_id = -1\nsnowflake.reserved_worker_ids = '10-5'\n",
	qr/invalid value for snowflake\.reserved_worker_ids: "10-5"/, 'a range the wrong way round');
refuses_to_start("snowflake.reserved_worker_ids = '1000-1023,'\n",
	qr/a comma ends the list/, 'a list that ends in a comma');

$node->append_conf('postgresql.conf', "snowflake.reserved_worker_ids = ' 1000 - 1023 , 7'\n");
ok($node->start(fail_ok => 1), 'a list with blanks starts');
is($node->safe_psql('postgres', "SELECT snowflake_worker_id(snowflake_backfill_id(now(), 7, 0))"),
	'7', 'and reserves what it says');
$node->stop;

done_testing();
