
# Copyright (c) the snowflake authors
#
# A session's IDs strictly increase even when its home slot is not slot 0
# and its slots run out within a millisecond.  The layout has one sequence
# bit (two IDs per slot per millisecond) and three slots, so every session
# runs out of its home slot in nearly every millisecond.  A session goes on
# in the slots above its home one (higher worker IDs), but it never takes a
# lower worker ID within the same millisecond: when the slots above are
# spent too, it waits for the next millisecond instead of wrapping around to
# slot 0.  Other sessions that minted once and stay connected make the
# session under test get home slot 1 (climbing to slot 2), then home slot 2
# (the top slot, nothing above it); in both cases the IDs of
# snowflake_batch(5000) and of 5000 calls of snowflake_nextval(), in the
# order returned, are distinct and strictly increase, and the session never
# minted under a worker ID below its home slot's.  Last, three sessions take
# batches from all three slots at once: no ID repeats across them.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;

my $node = new_node(
	'order_across_slots',
	conf => "snowflake.sequence_bits = 1\nsnowflake.worker_slots = 3\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($node, timeout => 30)->{ok}, 'minting works');
ok( poll_until(
		$node, q{
		SELECT count(*) = 3 AND bool_and(lease_state = 'held')
		FROM snowflake_status}, 30),
	'all three slots hold a lease');

# Leased worker IDs ascend with the slots.
my @workers = split /\n/,
  $node->safe_psql('postgres',
	'SELECT worker_id FROM snowflake_status ORDER BY slot');
ok($workers[0] < $workers[1] && $workers[1] < $workers[2],
	"worker IDs ascend with the slots (@workers)");

# Sessions whose home is each slot, from snowflake_status.
sub sessions_per_slot
{
	return join(',',
		split /\n/,
		$node->safe_psql('postgres',
			'SELECT sessions FROM snowflake_status ORDER BY slot'));
}

# A session that mints once, so that it has a home slot, and stays open.
sub open_minted_session
{
	my $s = $node->background_psql('postgres');
	$s->query_safe('SELECT snowflake_nextval()');
	return $s;
}

# In session $s (home slot $home), mint snowflake_batch(5000), then 5000
# IDs one call at a time, keeping them in call order, and check them.
sub check_session
{
	my ($s, $home) = @_;
	my $what = "home slot $home";
	$s->query_safe(
		q{CREATE TEMP TABLE got (n serial PRIMARY KEY, how text, id bigint)});
	$s->query_safe(
		q{INSERT INTO got (how, id) SELECT 'batch', snowflake_batch(5000)});
	$s->query_safe(
		q{DO $$
		BEGIN
			FOR i IN 1 .. 5000 LOOP
				INSERT INTO got (how, id) VALUES ('nextval', snowflake_nextval());
			END LOOP;
		END $$});

	my ($total, $distinct) = split /\|/,
	  $s->query_safe('SELECT count(*), count(DISTINCT id) FROM got');
	is($total, 10000, "$what: 10000 IDs minted");
	is($distinct, $total, "$what: no ID was minted twice");
	foreach my $how ('batch', 'nextval')
	{
		my $bad = $s->query_safe(
			qq{SELECT count(*) FROM (
				SELECT id, lag(id) OVER (ORDER BY n) AS prev
				FROM got WHERE how = '$how') s
			WHERE id <= prev});
		is($bad, '0', "$what: the IDs of $how strictly increase in call order")
		  or diag $s->query_safe(
			qq{SELECT string_agg(format('%s (ts %s, worker %s, seq %s) after %s (ts %s, worker %s, seq %s)',
					id, d.ts, d.worker_id, d.sequence,
					prev, p.ts, p.worker_id, p.sequence), E'\n')
			FROM (SELECT id, prev FROM (
					SELECT n, id, lag(id) OVER (ORDER BY n) AS prev
					FROM got WHERE how = '$how') s
				  WHERE id <= prev ORDER BY n LIMIT 3) s,
				 snowflake_decode(id) d, snowflake_decode(prev) p});
	}
	is( $s->query_safe(
			q{SELECT count(*) FROM (
				SELECT id, lag(id) OVER (ORDER BY n) AS prev FROM got) s
			WHERE id <= prev}),
		'0',
		"$what: all its IDs strictly increase in call order");

	my %per_worker = map { split /\|/ } split /\n/,
	  $s->query_safe(
		q{SELECT snowflake_worker_id(id), count(*) FROM got GROUP BY 1});
	note "$what: IDs per worker ID: "
	  . join(', ', map { "$_: $per_worker{$_}" } sort { $a <=> $b } keys %per_worker);
	ok(!grep({ $_ < $workers[$home] } keys %per_worker),
		"$what: no ID under a worker ID below the home slot's ($workers[$home])");
	return \%per_worker;
}

# Home slots go to the least used slot, ties in the order 0, 2, 1.
my $bg0 = open_minted_session();
my $bg2 = open_minted_session();
is(sessions_per_slot(), '1,0,1',
	'two other sessions have home slots 0 and 2');

my $t1 = open_minted_session();
is(sessions_per_slot(), '1,1,1', 'the session under test has home slot 1');
my $per_worker = check_session($t1, 1);
cmp_ok($per_worker->{ $workers[2] } // 0,
	'>', 0,
	'home slot 1: the session went on in slot 2 when slot 1 ran out');

# Free slot 2: the next session gets it as its home, the top slot.
$bg2->quit;
ok(poll_until($node, q{SELECT sum(sessions) = 2 FROM snowflake_status}, 10),
	'the session of slot 2 is gone');
my $t2 = open_minted_session();
is(sessions_per_slot(), '1,1,1', 'the next session has home slot 2');
check_session($t2, 2);

$t1->quit;
$t2->quit;
$bg0->quit;

# The three slots at once: three sessions (one per slot) take batches of 3
# from slots that hold 2 IDs a millisecond, so nearly every take ends at a
# slot's last sequence number, while the next slot up mints in the same
# millisecond.  No ID is minted twice, across the sessions.
ok(poll_until($node, q{SELECT sum(sessions) = 0 FROM snowflake_status}, 10),
	'no session is left');
$node->safe_psql('postgres',
	'CREATE TABLE ids (n bigserial PRIMARY KEY, run integer NOT NULL,
	   client integer NOT NULL, id bigint NOT NULL)');
my ($rc) = run_pgbench($node, clients => 3, seconds => 3, run => 1,
	sql => 'INSERT INTO ids (run, client, id) SELECT :run, :client_id, snowflake_batch(3);');
is($rc, 0, 'three sessions took batches without an error');
check_ids($node, 'three sessions, one per slot, taking batches of 3');
$node->stop;
done_testing();
