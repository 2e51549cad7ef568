
# Copyright (c) the snowflake authors
#
# The guard worker stopped (SIGSTOP): it no longer moves the durable
# high-water mark, so minting goes on below the mark published before it
# stopped, then waits at the mark and refuses with SF007.  Killing the
# stopped worker with SIGTERM (and letting it run so that it sees the
# signal) makes it exit; the postmaster starts it again a second later,
# and minting resumes above everything minted before.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

# A 2 s horizon: the mark runs 1 to 2 s ahead of the clock, so a session
# started after the worker stopped still has room to mint below it.  At the
# mark, a mint waits max(horizon, 1 s), then refuses.
my $node = new_node('guard_stopped',
	conf => "snowflake.high_water_horizon = '2s'\n");
$node->start;
setup_ids($node);
ok(wait_for_mint($node)->{ok}, 'minting works');
$node->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 1, 0, snowflake_nextval() FROM generate_series(1, 1000)'
);

my $guard = guard_pid($node);
ok($guard =~ /^\d+$/, 'the guard worker runs');

# Stop the worker.  The mark it published last is the one minting lives
# under from now on: read it once the worker is stopped, and make sure it
# no longer moves.  (Nothing below writes WAL until the worker runs again:
# the stopped worker might hold a WAL lock.)
kill('STOP', $guard);
usleep(100_000);
my $mark = status_value($node, 'max(high_water_mark)');
note "high-water mark published before the worker stopped: $mark";

# One session mints (one ID a millisecond or so) until it is refused.
my $started = time();
my ($state, $msg, $detail, $count, $list) = split /\|/,
  $node->safe_psql(
	'postgres', q{
	SELECT state, msg, detail, cardinality(minted), array_to_string(minted, ',')
	FROM mint_until_error(100000, 0.001)});
my $took = time() - $started;
note sprintf('minted %d IDs in %.1f s, then: %s %s (%s)',
	$count, $took, $state, $msg, $detail);
is(status_value($node, 'max(high_water_mark)'),
	$mark, 'the mark no longer moves while the worker is stopped');
is($state, 'SF007', 'minting refuses with SF007 at the mark');
like($msg, qr/high-water mark is not advancing/,
	'the error says the mark is not advancing');
cmp_ok($count, '>', 0, 'minting went on while the mark was ahead');
my @minted = split /,/, $list;
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM unnest('{$list}'::bigint[]) b
		 WHERE snowflake_timestamp(b) >= '$mark'::timestamptz"),
	'0',
	'no ID at or above the mark the worker published before it stopped');
is( $node->safe_psql(
		'postgres',
		"SELECT max(snowflake_timestamp(b)) > '$mark'::timestamptz - interval '100 ms'
		 FROM unnest('{$list}'::bigint[]) b"),
	't',
	'minting went on up to the mark')
  if $count > 0;
cmp_ok($took, '>=', 2, 'it waited at the mark (2 s) before refusing');

my $r = try_sql($node, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF007', 'a new session is refused with SF007 too');
cmp_ok(status_value($node, 'sum(refusals_high_water)'),
	'>=', 2, 'the refusals are counted (refusals_high_water)');
cmp_ok(status_value($node, 'sum(waits_high_water)'),
	'>=', 2, 'the waits at the mark are counted (waits_high_water)');
is(status_value($node, 'max(high_water_mark)'),
	$mark, 'the mark has not moved');

# SIGTERM, then let it run: it exits, and the postmaster restarts it.
my $log_offset = -s $node->logfile;
kill('TERM', $guard);
kill('CONT', $guard);
$node->wait_for_log(
	qr/background worker "snowflake guard" \(PID $guard\) exited with exit code 1/,
	$log_offset);
pass('the guard worker exits on SIGTERM');

my $w = wait_for_mint(
	$node,
	timeout => 30,
	sql =>
	  'INSERT INTO ids (run, client, id) VALUES (3, 0, snowflake_nextval()) RETURNING id'
);
ok($w->{ok}, 'minting resumes once the postmaster has restarted the worker');
my $new_guard = guard_pid($node);
ok($new_guard =~ /^\d+$/ && $new_guard ne $guard,
	'a new guard worker runs');
isnt(status_value($node, 'max(high_water_mark)'),
	$mark, 'the mark moves again');

# Store what was minted while the worker was stopped, then mint some more.
$node->safe_psql(
	'postgres', qq{
	INSERT INTO ids (run, client, id)
	SELECT 2, 0, b FROM unnest('{$list}'::bigint[]) WITH ORDINALITY AS u(b, o)
	ORDER BY o});
my ($rc) = run_pgbench($node, clients => 2, seconds => 1, run => 4);
is($rc, 0, 'pgbench mints without an error');
is( $node->safe_psql(
		'postgres', q{
		SELECT (SELECT min(id) FROM ids WHERE run >= 3) >
		       (SELECT max(id) FROM ids WHERE run <= 2)}),
	't',
	'IDs minted after the restart of the worker are above every earlier ID');
check_ids($node, 'across a stopped and restarted guard worker');

$node->stop;
done_testing();
