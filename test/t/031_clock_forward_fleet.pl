
# Copyright (c) the snowflake authors
#
# Successive holders of a worker ID mint in disjoint time ranges even when a
# holder's wall clock jumps forward while its renewals fail (a host suspended
# and resumed, a VM paused and then time-synced, an NTP step).
#
# Servers A and B are both pinned to worker ID 7 (one slot each) and lease it
# from one coordinator, under libfaketime.  A holds 7 and mints; B waits,
# refused with SF008 (held elsewhere).  A's lease keeper is then stopped
# (SIGSTOP), so A's lease is no longer renewed although its fencing deadline
# (on a monotonic clock) is still a few seconds ahead, and A's wall clock
# steps 40 s forward.  A slot never mints above the wall-clock minting_until
# the coordinator acknowledged for its lease, so A asks its (stopped) keeper
# for a renewal, waits a second for it, then refuses with SF003, and mints
# nothing more under 7.  Once A's lease has expired on the
# coordinator, B, whose clock has stepped 30 s forward, takes 7 over and
# mints continuously until its clock has passed every millisecond A could
# have minted at after the step.  Every ID minted under 7 by A and B is
# distinct, and every ID A minted under 7 is below every ID B minted under 7.

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

# Offsets of the faked clocks from the real one, in seconds.  A starts 1 s
# ahead, so that the wall clock of its lease keeper shows on the coordinator
# (minting_until - renewed_at = TTL - margin + offset), and then steps
# forward by 40 s; B starts 10 s ahead (so that its workers' start times
# show whether they follow the faked clock; B mints nothing before its
# step) and steps to 30 s ahead before it takes worker ID 7 over, so its
# clock runs through A's milliseconds after the step some 10 s later.
my $A_START = 1;
my $A_JUMP  = 41;
my $B_START = 10;
my $B_JUMP  = 30;
# TTL - margin of the FAST leases (FleetTest).
my $FENCE_S = 4;

# Seconds between the wall-clock minting_until that the holder of $worker_id
# last reported and the coordinator's renewed_at: TTL - margin plus the
# offset of the holder's lease keeper's clock.
sub reported_ahead
{
	my ($coord, $worker_id) = @_;
	return $coord->safe_psql('postgres',
		"SELECT round(extract(epoch FROM minting_until - renewed_at), 3)
		   FROM snowflake_state.worker_lease WHERE worker_id = $worker_id");
}

my $coord = new_coordinator('coordinator');
my $pin    = "snowflake.worker_id = 7\nsnowflake.worker_slots = 1\n";
my $node_a = new_fleet_node('server_a', $coord, conf => $pin);
my $node_b = new_fleet_node('server_b', $coord, conf => $pin);

# A: faked clock, guard and lease keeper restarted so both follow it.  The
# keeper's restart releases 7 and leases it again, before B exists.
start_faked($node_a, "+$A_START");
setup_ids($node_a);
ok( fake_keeper(
		$node_a, $coord,
		sub {
			my ($since) = @_;
			poll_until(
				$coord, qq{
				SELECT holder_cluster_name = 'server_a' AND released_at IS NULL
				   AND acquired_at > '$since'
				  FROM snowflake_state.worker_lease WHERE worker_id = 7},
				30)
			  or die "A's new lease keeper did not lease worker ID 7";
			my $ahead = reported_ahead($coord, 7);
			note "A's lease keeper reports minting_until $ahead s ahead of the coordinator";
			return abs($ahead - ($FENCE_S + $A_START)) < 0.5;
		}),
	"A's new lease keeper leases worker ID 7 and reports minting_until on A's faked clock"
);
my $w = wait_for_mint($node_a, timeout => 30);
ok($w->{ok}, 'server A mints');
is(slot_states($node_a), '7:held', 'A holds worker ID 7');
my @a_pre = ($w->{ok} ? ($w->{id}) : ());
push @a_pre, split /,/,
  $node_a->safe_psql('postgres',
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM snowflake_batch(200) id");

# B: waits, worker ID 7 is held by A.
start_faked($node_b, "+$B_START");
setup_ids($node_b);
ok( fake_keeper(
		$node_b, $coord,
		sub {
			poll_until(
				$node_b, q{
				SELECT abs(extract(epoch FROM now() - backend_start)) < 5
				  FROM pg_stat_activity WHERE backend_type = 'snowflake lease keeper'},
				3);
		}),
	"B's lease keeper runs on B's faked clock");
ok( poll_until(
		$node_b,
		"SELECT worker_id = 7 AND lease_state = 'held_elsewhere' FROM snowflake_status",
		20),
	'B waits: worker ID 7 is held elsewhere');
my $r = try_sql($node_b, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF008', 'B is refused with SF008');

# A's lease keeper stops; A's clock jumps 40 s forward; A mints at once,
# in one session, until it is refused (at the latest at its fencing
# deadline, TTL - margin after its last renewal).
my $keeper_a = keeper_pid($node_a);
kill('STOP', $keeper_a) or die "could not stop $keeper_a: $!";
push @frozen, $keeper_a;
my $stopped_at = time();
# The signal is delivered asynchronously: wait for the stopped state.
my $keeper_state = '';
foreach (1 .. 50)
{
	$keeper_state = proc_state($keeper_a) // '';
	last if $keeper_state eq 'T';
	usleep(20_000);
}
is($keeper_state, 'T', "A's lease keeper is stopped");
my ($a_until, $a_expires) = split /\|/,
  $coord->safe_psql('postgres',
	"SELECT minting_until, expires_at FROM snowflake_state.worker_lease WHERE worker_id = 7"
  );
note "A's lease as last renewed: minting_until $a_until, expires_at $a_expires";
set_clock($node_a, "+$A_JUMP");
# B's clock steps before B can lease 7 (A's lease is still live).
set_clock($node_b, "+$B_JUMP");

$node_a->safe_psql('postgres',
	'CREATE TABLE after_jump AS SELECT * FROM mint_until_error(6000, 0.001)');
my ($a_post_list, $a_state, $a_msg) = split /\t/,
  $node_a->safe_psql(
	'postgres', q{
	SELECT coalesce(array_to_string(minted, ','), '') || E'\t' ||
	       coalesce(state, 'none') || E'\t' || coalesce(msg, '')
	  FROM after_jump});
my @a_post = grep { $_ ne '' } split /,/, ($a_post_list // '');
note sprintf('A after the step (%.1f s after its keeper stopped): minted %d IDs, then %s: %s',
	time() - $stopped_at, scalar(@a_post), $a_state, $a_msg);

# A's guard follows the faked clock: it keeps the high-water mark ahead of
# A's stepped clock.
ok( poll_until(
		$node_a,
		'SELECT bool_and(high_water_mark > now()) FROM snowflake_status', 10),
	"A's guard keeps the high-water mark ahead of A's stepped clock");

# Assertion (3): after the step, A refuses with SF003 and mints nothing.
is(scalar(@a_post), 0,
	"A mints nothing after its clock stepped past the minting_until the coordinator acknowledged"
);
is($a_state, 'SF003', 'A is refused with SF003 (past its fencing)');

# A's lease expires on the coordinator; B takes 7 over and mints.
ok( poll_until(
		$coord,
		'SELECT expires_at < now() FROM snowflake_state.worker_lease WHERE worker_id = 7',
		20),
	"A's lease on 7 expires on the coordinator");
ok( poll_until(
		$node_b,
		"SELECT worker_id = 7 AND lease_state = 'held' FROM snowflake_status", 20),
	'B takes worker ID 7 over');
is( $coord->safe_psql(
		'postgres',
		'SELECT holder_cluster_name FROM snowflake_state.worker_lease WHERE worker_id = 7'),
	'server_b',
	'the coordination table names B as holder of 7');
$w = wait_for_mint($node_b, timeout => 20);
ok($w->{ok}, 'B mints under its stepped clock');
$node_b->safe_psql('postgres',
	"INSERT INTO ids (run, client, id) VALUES (0, 0, $w->{id})")
  if $w->{ok};
ok( poll_until(
		$coord, qq{
		SELECT abs(extract(epoch FROM minting_until - renewed_at) - ($FENCE_S + $B_JUMP)) < 0.5
		  FROM snowflake_state.worker_lease WHERE worker_id = 7},
		10),
	"B's lease keeper reports minting_until on its stepped clock ("
	  . reported_ahead($coord, 7) . ' s ahead)');
ok( poll_until(
		$node_b,
		'SELECT bool_and(high_water_mark > now()) FROM snowflake_status', 10),
	"B's guard keeps the high-water mark ahead of B's stepped clock");

# B mints until its clock has passed every millisecond A may have minted at
# after its step (its fencing deadline, on its stepped clock), and 2 s more.
my $a_last_possible = $stopped_at + $FENCE_S + $A_JUMP;
my $b_seconds = int($a_last_possible - (time() + $B_JUMP)) + 3;
$b_seconds = 4  if $b_seconds < 4;
$b_seconds = 20 if $b_seconds > 20;
my ($failed, $err) = finish_mint_loops(
	start_mint_loops($node_b, clients => 2, seconds => $b_seconds, run => 1));
is($failed, 0, "B mints in two sessions for $b_seconds s without an error");
note "minting on B: $err" if $failed;

thaw();

# Compare the IDs of both holders, on B.
$node_b->safe_psql(
	'postgres', qq{
	CREATE TABLE a_ids (phase text, id bigint);
	INSERT INTO a_ids SELECT 'A before the step', unnest(} . id_array(@a_pre) . qq{);
	INSERT INTO a_ids SELECT 'A after the step', unnest(} . id_array(@a_post) . qq{);
	CREATE TABLE all7 AS
	  SELECT phase, id FROM a_ids WHERE snowflake_worker_id(id) = 7
	  UNION ALL
	  SELECT 'B', id FROM ids WHERE snowflake_worker_id(id) = 7;
	ANALYZE a_ids; ANALYZE ids; ANALYZE all7;
});
note "IDs under worker ID 7, by holder, and their milliseconds:\n"
  . $node_b->safe_psql(
	'postgres', q{
	SELECT phase || ': ' || count(*) || ' IDs, '
	       || to_char(min(snowflake_timestamp(id)) AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') || ' to '
	       || to_char(max(snowflake_timestamp(id)) AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') || ' UTC'
	  FROM all7 GROUP BY phase ORDER BY min(id)});

my ($b_count, $b_total) = split /\|/,
  $node_b->safe_psql('postgres',
	'SELECT count(*) FILTER (WHERE snowflake_worker_id(id) = 7), count(*) FROM ids');
cmp_ok($b_count, '>', 1000, "B minted under worker ID 7 ($b_count IDs)");
is($b_count, $b_total, 'every ID B minted is under worker ID 7');
is( $node_a->safe_psql(
		'postgres',
		'SELECT count(*) FROM unnest(' . id_array(@a_pre) . ') i
		  WHERE snowflake_worker_id(i) = 7'),
	scalar(@a_pre),
	'A minted under worker ID 7 before the step (' . scalar(@a_pre) . ' IDs)');

# (1) All distinct.
my ($all, $distinct) = split /\|/,
  $node_b->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id) FROM all7');
my $dups = $node_b->safe_psql(
	'postgres', q{
	SELECT count(*) || ' IDs minted by both A and B'
	  FROM a_ids a JOIN ids b ON a.id = b.id});
$dups .= "; e.g. "
  . $node_b->safe_psql(
	'postgres', q{
	SELECT string_agg(a.id || ' (' || to_char(snowflake_timestamp(a.id) AT TIME ZONE 'UTC',
	                                           'HH24:MI:SS.MS')
	                  || ' UTC, sequence ' || snowflake_sequence(a.id) || ')', '; ')
	  FROM (SELECT a.id FROM a_ids a JOIN ids b ON a.id = b.id ORDER BY a.id LIMIT 3) a});
note "duplicates: $dups";
is($distinct, $all, "every ID minted under worker ID 7 by A and B is distinct ($all IDs)");
is( $node_b->safe_psql(
		'postgres', 'SELECT count(*) FROM a_ids a JOIN ids b ON a.id = b.id'),
	'0',
	'no ID of A is one of B\'s');

# (2) Disjoint ranges: A held 7 first, so all of A's IDs are below B's.
my ($a_max, $b_min, $above) = split /\|/,
  $node_b->safe_psql(
	'postgres', q{
	SELECT (SELECT max(id) FROM all7 WHERE phase <> 'B'),
	       (SELECT min(id) FROM all7 WHERE phase = 'B'),
	       (SELECT count(*) FROM all7 WHERE phase <> 'B'
	           AND id >= (SELECT min(id) FROM all7 WHERE phase = 'B'))});
is($above, '0',
	"every ID A minted under 7 is below every ID B minted under 7 (A's highest $a_max, B's lowest $b_min)"
);

$node_a->stop;
$node_b->stop;
$coord->stop;
done_testing();
