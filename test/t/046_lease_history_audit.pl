# Copyright (c) the snowflake authors
#
# The lease history and snowflake_audit().
#
# History: every acquisition of a worker ID gets a row in
# snowflake_state.lease_history, written by a trigger in the statement that
# takes the lease; a release closes it with the cap the holder had, a
# takeover after a crash closes it too, and the next acquisition's floor
# is at or above that cap.  Ended rows past snowflake.lease_history_retention
# go when the keeper connects.  pg_monitor reads the history; an ordinary
# role does not.
#
# Audit: on a table of a million minted IDs, snowflake_audit() finds
# nothing wrong; with planted duplicates, an ID from the future, a negative
# one, one under a worker ID never leased and one from before the history
# began, it finds each, with examples.  It refuses a column the caller may
# not read, and one that is not bigint.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(time);

# Pinned worker IDs and short leases: after a crash the server waits for
# its own old leases to expire, then takes them over.
my $node = new_node('history', conf => "snowflake.worker_id = 0\n"
	  . "snowflake.lease_ttl = '6s'\nsnowflake.lease_renew_interval = '1s'\n"
	  . "snowflake.fencing_margin = '2s'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($node)->{ok}, 'the server mints');

sub history
{
	return $node->safe_psql('postgres', shift);
}

is( history(
		"SELECT count(*), count(DISTINCT worker_id), bool_and(ended_at IS NULL)
		 FROM snowflake_state.lease_history"),
	'8|8|t', 'the eight acquisitions of a first start are in the history, open');

# A clean restart: each lease is released and taken again.
$node->restart;
ok(wait_for_mint($node)->{ok}, 'the server mints after a restart');
is( history(
		"SELECT count(*) FILTER (WHERE ended_how = 'released' AND cap_at IS NOT NULL),
		        count(*) FILTER (WHERE ended_at IS NULL)
		 FROM snowflake_state.lease_history"),
	'8|8', 'the restart closed eight acquisitions as released, with their caps, and opened eight');
is( history(
		"SELECT bool_and(n.floor_at >= o.cap_at)
		 FROM snowflake_state.lease_history o
		 JOIN snowflake_state.lease_history n
		   ON n.worker_id = o.worker_id AND n.fencing_token = o.fencing_token + 1
		 WHERE o.ended_how = 'released'"),
	't', 'each new acquisition mints above the cap of the one before');

# A crash: the leases are not released; the next start waits for them to
# expire and takes them over.
$node->stop('immediate');
$node->start;
ok(wait_for_mint($node)->{ok}, 'the server mints after a crash');
# one slot minting is enough for wait_for_mint: the others follow
ok( poll_until(
		$node,
		"SELECT count(*) FILTER (WHERE ended_how = 'expired' AND cap_at IS NOT NULL) = 8
		   AND count(*) FILTER (WHERE ended_at IS NULL) = 8
		 FROM snowflake_state.lease_history",
		60),
	'the acquisitions the crash left open were closed as expired when taken over, with their caps');
is( history(
		"SELECT count(*) FROM snowflake_state.lease_history o
		 JOIN snowflake_state.lease_history n
		   ON n.worker_id = o.worker_id AND n.fencing_token = o.fencing_token + 1
		 WHERE o.ended_how = 'expired' AND n.floor_at >= o.cap_at"),
	'8', 'the acquisitions after the crash mint above what the crashed ones could');

# Who may read it.
$node->safe_psql('postgres',
	'CREATE ROLE mallory LOGIN; CREATE ROLE watcher LOGIN IN ROLE pg_monitor');
my $r = try_sql_as($node, 'mallory', 'SELECT count(*) FROM snowflake_state.lease_history');
is($r->{sqlstate}, '42501', 'an ordinary role may not read the lease history');
$r = try_sql_as($node, 'watcher', 'SELECT count(*) FROM snowflake_state.lease_history');
is($r->{out}, '24', 'a pg_monitor member reads the lease history');
$r = try_sql_as($node, 'mallory', 'DELETE FROM snowflake_state.lease_history');
is($r->{sqlstate}, '42501', 'an ordinary role may not change the lease history');

# Retention: ended rows older than it go when the keeper connects.
$node->append_conf('postgresql.conf', "snowflake.lease_history_retention = '1s'\n");
$node->reload;
sleep(2);
my $keeper = keeper_pid($node);
kill('TERM', $keeper);
ok( poll_until(
		$node,
		"SELECT count(*) = 8 AND bool_and(ended_at IS NULL) FROM snowflake_state.lease_history",
		60),
	'after the retention, a keeper that connects deletes the ended rows and keeps the open ones');

# The audit.
$node->safe_psql(
	'postgres', q{
	CREATE TABLE clean AS SELECT snowflake_batch AS id FROM snowflake_batch(1000000);
	CREATE TABLE planted AS SELECT * FROM clean;
	INSERT INTO planted SELECT id FROM clean ORDER BY id LIMIT 3;
	INSERT INTO planted VALUES
		(snowflake_encode(now() + interval '1 hour', 5, 1)),
		(-5),
		(snowflake_encode(now(), 900, 7)),
		(snowflake_encode('2024-06-01+00', 3, 0));});

my $t0 = time();
is( $node->safe_psql(
		'postgres', q{
		SELECT string_agg(finding || ':' || ids, ',' ORDER BY finding)
		FROM snowflake_audit('clean', 'id') WHERE finding NOT IN ('worker', 'day')}),
	'checked:1000000', 'a clean table of a million IDs: nothing found');
note sprintf('snowflake_audit of 1,000,000 IDs took %.1f s', time() - $t0);
is( $node->safe_psql(
		'postgres', q{
		SELECT sum(ids) FROM snowflake_audit('clean', 'id') WHERE finding = 'worker'}),
	'1000000', 'the per-worker counts add up to the table');

my %found;
foreach my $line (
	split /\n/,
	$node->safe_psql(
		'postgres', q{
		SELECT finding, ids, array_to_string(examples, ' ')
		FROM snowflake_audit('planted', 'id') WHERE finding NOT IN ('worker', 'day')}))
{
	my ($finding, $ids, $examples) = split /\|/, $line;
	$found{$finding} = { ids => $ids, examples => $examples // '' };
}
is($found{checked}{ids}, '1000007', 'the planted table: every ID checked');
is($found{duplicate}{ids}, '3', 'three duplicates found');
is( $found{duplicate}{examples},
	$node->safe_psql('postgres',
		q{SELECT string_agg(id::text, ' ' ORDER BY id) FROM (SELECT id FROM clean ORDER BY id LIMIT 3) x}),
	'the duplicates are the planted ones');
is($found{out_of_layout}{examples}, '-5', 'the negative ID is out of the layout');
is($found{future}{ids}, '1', 'the ID an hour ahead is from the future');
is($found{before_history}{ids}, '1', 'the ID from before the history is counted apart');
is($found{unleased}{ids}, '2', 'two IDs no lease covered: worker 900 now, and the future one');
like($found{unleased}{examples},
	qr/\b${\ $node->safe_psql('postgres',
		"SELECT id FROM planted WHERE CASE WHEN id >= 0 THEN snowflake_worker_id(id) END = 900")}\b/,
	'the ID under worker 900 is an example of the unleased');

# Ordinary privilege checks apply; the column must hold IDs.
$node->safe_psql('postgres',
	'CREATE TABLE secret (id bigint, note text); GRANT SELECT (note) ON secret TO mallory;');
$r = try_sql_as($node, 'mallory', q{SELECT * FROM snowflake_audit('secret', 'id')});
is($r->{sqlstate}, '42501', 'an audit of a column the caller may not read is refused');
$r = try_sql_as($node, 'mallory', q{SELECT * FROM snowflake_audit('secret', 'note')});
is($r->{sqlstate}, '42804', 'an audit of a text column is refused');
$r = try_sql($node, q{SELECT * FROM snowflake_audit('clean', 'nope')});
is($r->{sqlstate}, '42703', 'an audit of a missing column is refused');
$r = try_sql($node, q{SELECT * FROM snowflake_audit('clean', 'id', 'nosuchlayout')});
is($r->{sqlstate}, '42704', 'an unknown layout is refused before the table is read');

$node->stop;
done_testing();
