
# Copyright (c) the snowflake authors
#
# A worker ID's floor -- the highest time any of its previous holders may
# have minted at -- is never lowered by a later takeover, renewal or
# release, so every holder of a worker ID mints above everything its
# predecessors minted, however their clocks disagree.
#
# Servers A, B and C are pinned to worker ID 5 (one slot each) and lease it
# from one coordinator, under libfaketime.  A's clock runs 20 s ahead of the
# real one (its guard and lease keeper too); B's and C's are on the real
# time.  A leases 5 and mints continuously; its lease keeper stops (SIGSTOP),
# A goes on minting for 2 s more, within its fencing window, then every
# process of A is killed (SIGKILL): it releases nothing, and its last IDs
# were minted after the last time it reported to the coordinator.  Once A's
# lease has expired, B takes 5 over: its floor is A's minting_until, far
# ahead of B's clock, so B waits (lease state "waiting", refusals SF002), and
# then stops cleanly, releasing 5, long before its clock reaches A's times.
# Then C takes 5 over while its clock, like B's, is still below A's last
# IDs: C may mint only above everything A minted.  Every ID C mints under 5
# is above every ID A minted under 5, and the coordinator's row of worker
# ID 5 never shows a lower greatest(last_minted_at, minting_until) than
# before, at any step.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;
use Time::HiRes qw(usleep time);

require_faketime();

my $A_OFFSET = 20;
# TTL - margin of the FAST leases (FleetTest).
my $FENCE_S = 4;

sub lease_row
{
	my ($coord) = @_;
	return $coord->safe_psql('postgres',
		"SELECT holder_cluster_name, fencing_token, released_at IS NOT NULL,
		        last_minted_at, minting_until
		   FROM snowflake_state.worker_lease WHERE worker_id = 5");
}

# The floor of worker ID 5 on the coordinator, greatest(last_minted_at,
# minting_until), sampled after each step: it must never decrease.
my ($floor_max, $floor_max_at);

sub sample_floor
{
	my ($coord, $step) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ms, $text) = split /\|/,
	  $coord->safe_psql(
		'postgres', q{
		SELECT (extract(epoch FROM greatest(last_minted_at, minting_until)) * 1000)::int8,
		       greatest(last_minted_at, minting_until)
		  FROM snowflake_state.worker_lease WHERE worker_id = 5});
	note "floor of worker ID 5 $step: $text (row: " . lease_row($coord) . ')';
	if (defined $floor_max)
	{
		cmp_ok($ms, '>=', $floor_max,
			"the floor of worker ID 5 does not decrease $step ($text; it was "
			  . "$floor_max_at before)");
	}
	if (!defined $floor_max || $ms > $floor_max)
	{
		$floor_max    = $ms;
		$floor_max_at = $text;
	}
	return $ms;
}

my $coord = new_coordinator('coordinator');
my $pin    = "snowflake.worker_id = 5\nsnowflake.worker_slots = 1\n";
my $node_a = new_fleet_node('server_a', $coord, conf => $pin);
my $node_b = new_fleet_node('server_b', $coord, conf => $pin);
my $node_c = new_fleet_node('server_c', $coord, conf => $pin);

# A, 20 s ahead: its guard (start_faked) and its lease keeper follow the
# faked clock.  The keeper's restart releases 5 and leases it again.
start_faked($node_a, "+$A_OFFSET");
setup_ids($node_a);
ok( fake_keeper(
		$node_a, $coord,
		sub {
			my ($since) = @_;
			return 0
			  unless poll_until(
				$node_a, q{
				SELECT abs(extract(epoch FROM now() - backend_start)) < 5
				  FROM pg_stat_activity WHERE backend_type = 'snowflake lease keeper'},
				3);
			poll_until(
				$coord, qq{
				SELECT holder_cluster_name = 'server_a' AND released_at IS NULL
				   AND acquired_at > '$since'
				  FROM snowflake_state.worker_lease WHERE worker_id = 5},
				30)
			  or die "A's new lease keeper did not lease worker ID 5";
			return 1;
		}),
	"A's lease keeper runs on A's faked clock and leases worker ID 5");
my $keeper_a = keeper_pid($node_a);
my $w = wait_for_mint($node_a, timeout => 30);
ok($w->{ok}, 'server A mints');
is(slot_states($node_a), '5:held', 'A holds worker ID 5');
my $ahead = $coord->safe_psql('postgres',
	"SELECT round(extract(epoch FROM minting_until - renewed_at), 3)
	   FROM snowflake_state.worker_lease WHERE worker_id = 5");
cmp_ok(abs($ahead - ($FENCE_S + $A_OFFSET)),
	'<', 0.5,
	"A's lease keeper reports minting_until on its faked clock ($ahead s ahead of the coordinator)"
);

# B, on the real time, waits: 5 is held by A.
start_faked($node_b, '+0');
$node_b->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok( poll_until(
		$node_b,
		"SELECT worker_id = 5 AND lease_state = 'held_elsewhere' FROM snowflake_status",
		20),
	'B waits: worker ID 5 is held elsewhere');

# A mints continuously.
my $bench_a = start_mint_loops($node_a, clients => 2, seconds => 60, run => 1);
ok( poll_until($node_a, 'SELECT count(*) > 1000 FROM ids', 20),
	'A mints in two sessions');
sample_floor($coord, 'while A holds it');
my $a_bench_first = $node_a->safe_psql('postgres',
	'SELECT snowflake_timestamp(min(id)) FROM ids');
ok( poll_until(
		$coord, qq{
		SELECT last_minted_at > '$a_bench_first'::timestamptz + interval '1 s'
		  FROM snowflake_state.worker_lease
		 WHERE worker_id = 5 AND holder_cluster_name = 'server_a'}, 10),
	'A reports what it minted');
sample_floor($coord, "after A's renewals");

# A's lease keeper stops: A reports nothing more, and mints on until it has
# minted 2 s past the last millisecond it reported.
kill('STOP', $keeper_a) or die "could not stop $keeper_a: $!";
push @frozen, $keeper_a;
# The signal is delivered asynchronously: wait for the stopped state.
my $keeper_state = '';
foreach (1 .. 50)
{
	$keeper_state = (proc_stat($keeper_a))[0] // '';
	last if $keeper_state eq 'T';
	usleep(20_000);
}
is($keeper_state, 'T', "A's lease keeper is stopped");
my ($a_reported_ms, $a_reported) = split /\|/,
  $coord->safe_psql('postgres',
	"SELECT (extract(epoch FROM last_minted_at) * 1000)::int8, last_minted_at
	   FROM snowflake_state.worker_lease WHERE worker_id = 5");
ok( poll_until(
		$node_a, qq{
		SELECT extract(epoch FROM snowflake_timestamp(max(id))) * 1000 > $a_reported_ms + 2000
		  FROM ids},
		10),
	"A mints 2 s past the last millisecond it reported ($a_reported)");

# Kill every process of A at once, postmaster first.
my $pm_a = postmaster_pid($node_a);
my @kids = children_of($pm_a);
$node_a->kill9;
kill('KILL', @kids);
my $killed_at = time();
finish_mint_loops($bench_a);
@frozen = ();
note "killed A's postmaster $pm_a and its processes @kids";
sample_floor($coord, 'after A was killed');

# B takes 5 over once A's lease has expired, and waits for A's floor.
ok( poll_until(
		$node_b,
		"SELECT worker_id = 5 AND lease_state = 'waiting' FROM snowflake_status",
		20),
	"B takes worker ID 5 over and waits (its clock is below A's floor)");
like(lease_row($coord), qr/^server_b\|/, 'the coordination table names B as holder of 5');
note sprintf('B took 5 over %.1f s after A was killed', time() - $killed_at);
sample_floor($coord, "after B's takeover");
my $r = try_sql($node_b, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF002', 'B is refused with SF002');
note "B's refusal: $r->{err}";
ok( poll_until(
		$coord, q{
		SELECT renewed_at > acquired_at + interval '1.5 s'
		  FROM snowflake_state.worker_lease WHERE worker_id = 5}, 10),
	'B renews its lease');
sample_floor($coord, "after B's renewals");
is($node_b->safe_psql('postgres', 'SELECT sum(ids_issued) FROM snowflake_status'),
	'0', 'B minted nothing');

# B stops cleanly, releasing 5, before its clock reaches A's last IDs.
my $b_log = -s $node_b->logfile;
$node_b->stop;
cmp_ok(time() * 1000, '<', $a_reported_ms,
	"B stopped before its clock reached A's last reported millisecond");
like(slurp_file($node_b->logfile, $b_log), qr/snowflake: released worker ID 5/,
	'B released worker ID 5');
sample_floor($coord, "after B's release");

# C, on the real time like B, takes 5 over and mints continuously.
my $c_log = -s $node_c->logfile // 0;
start_faked($node_c, '+0');
setup_ids($node_c);
ok( poll_until(
		$coord,
		"SELECT holder_cluster_name = 'server_c' FROM snowflake_state.worker_lease WHERE worker_id = 5",
		20),
	'C takes worker ID 5 over');
my $c_took_over = time();
sample_floor($coord, "after C's takeover");
cmp_ok($c_took_over * 1000, '<', $a_reported_ms,
	"C took 5 over while its clock was below A's last reported millisecond");
$w = wait_for_mint($node_c, timeout => 45);
ok($w->{ok}, 'C mints');
note sprintf('C minted %.1f s after it took 5 over; refusals until then: %s',
	$w->{seconds},
	join(', ', map { "$_ x $w->{states}{$_}" } sort keys %{ $w->{states} }));
my ($floor_logged) = slurp_file($node_c->logfile, $c_log) =~
  /DETAIL:  (Its previous holders minted up to [^\n]*)/;
note "C's log: " . ($floor_logged // 'no floor logged');
$node_c->safe_psql('postgres',
	"INSERT INTO ids (run, client, id) VALUES (0, 0, $w->{id})")
  if $w->{ok};
my ($failed, $err) = finish_mint_loops(
	start_mint_loops($node_c, clients => 2, seconds => 4, run => 1));
is($failed, 0, 'C mints in two sessions without an error')
  or diag "minting on C: $err";
ok( poll_until(
		$coord, q{
		SELECT last_minted_at IS NOT NULL FROM snowflake_state.worker_lease
		 WHERE worker_id = 5 AND holder_cluster_name = 'server_c'
		   AND last_minted_at >= renewed_at - interval '2 s'}, 10),
	'C reports what it minted');
sample_floor($coord, 'after C minted');

# A's IDs: A starts again without the library, so it leases nothing.
$node_a->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node_a->start;
my @a_ids = split /,/,
  $node_a->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM ids");
$node_a->stop;

$node_c->safe_psql(
	'postgres', q{CREATE TABLE a_ids AS SELECT unnest(} . id_array(@a_ids) . q{) AS id;
	CREATE TABLE all5 AS
	  SELECT 'A' AS holder, id FROM a_ids WHERE snowflake_worker_id(id) = 5
	  UNION ALL
	  SELECT 'C', id FROM ids WHERE snowflake_worker_id(id) = 5;
	ANALYZE a_ids; ANALYZE ids; ANALYZE all5;});
note "IDs under worker ID 5, by holder, and their milliseconds:\n"
  . $node_c->safe_psql(
	'postgres', q{
	SELECT holder || ': ' || count(*) || ' IDs, '
	       || to_char(min(snowflake_timestamp(id)) AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') || ' to '
	       || to_char(max(snowflake_timestamp(id)) AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') || ' UTC'
	  FROM all5 GROUP BY holder ORDER BY min(id)});

my ($a_count, $a_total) = split /\|/,
  $node_c->safe_psql('postgres',
	"SELECT count(*) FILTER (WHERE snowflake_worker_id(id) = 5), count(*) FROM a_ids");
cmp_ok($a_count, '>', 1000, "A minted under worker ID 5 ($a_count IDs)");
is($a_count, $a_total, 'every ID A minted is under worker ID 5');
my ($c_count, $c_total) = split /\|/,
  $node_c->safe_psql('postgres',
	"SELECT count(*) FILTER (WHERE snowflake_worker_id(id) = 5), count(*) FROM ids");
cmp_ok($c_count, '>', 100, "C minted under worker ID 5 ($c_count IDs)");
is($c_count, $c_total, 'every ID C minted is under worker ID 5');

my ($all, $distinct) = split /\|/,
  $node_c->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id) FROM all5');
my $both = $node_c->safe_psql(
	'postgres', q{
	SELECT string_agg(line, '; ')
	  FROM (SELECT a.id || ' (' || to_char(snowflake_timestamp(a.id) AT TIME ZONE 'UTC',
	                                       'HH24:MI:SS.MS')
	               || ' UTC, sequence ' || snowflake_sequence(a.id) || ')' AS line
	          FROM a_ids a JOIN ids c ON a.id = c.id ORDER BY a.id LIMIT 3) d});
my $both_n = $node_c->safe_psql('postgres',
	'SELECT count(*) FROM a_ids a JOIN ids c ON a.id = c.id');
note "IDs minted by both A and C: $both_n; first ones: $both";
is($distinct, $all, "every ID minted under worker ID 5 by A and C is distinct ($all IDs)");
my ($a_max, $c_min, $above) = split /\|/,
  $node_c->safe_psql(
	'postgres', q{
	SELECT (SELECT max(id) FROM all5 WHERE holder = 'A'),
	       (SELECT min(id) FROM all5 WHERE holder = 'C'),
	       (SELECT count(*) FROM all5 WHERE holder = 'A'
	           AND id >= (SELECT min(id) FROM all5 WHERE holder = 'C'))});
is($above, '0',
	"every ID C minted under 5 is above every ID A minted under 5 (A's highest $a_max, C's lowest $c_min)"
);

$node_c->stop;
$coord->stop;
done_testing();
