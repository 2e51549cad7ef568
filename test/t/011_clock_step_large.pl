
# Copyright (c) the snowflake authors
#
# A large backward step of the wall clock (10 s, far above
# snowflake.max_clock_wait): minting refuses with SF001 until the clock has
# passed the last minted millisecond again, then resumes by itself, above
# what was minted before.  With snowflake.clock_borrow = on, a session first
# uses the sequence numbers left in the last minted millisecond (same
# timestamp, higher sequence numbers, then the slots above), and refuses
# with SF001 once they are spent.  The guard counts and logs the steps.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

require_faketime();

# The server's clock runs 30 s ahead of the real one (see fake_guard in
# SnowflakeTest.pm for why it is not 0).
my $node = new_node('clock_step_large');
start_faked($node, '+30');
setup_ids($node);
ok(wait_for_mint($node)->{ok}, 'minting works');

my $log_offset = -s $node->logfile;

# --- Refuse, then resume by itself -------------------------------------

$node->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 1, 0, snowflake_nextval() FROM generate_series(1, 1000)'
);
my $last_old = $node->safe_psql('postgres', 'SELECT max(id) FROM ids');

set_clock($node, '+20');    # 10 s back
my $stepped_at = time();

my $r = try_sql($node, 'SELECT snowflake_nextval()');
isnt($r->{ret}, 0, 'minting fails right after a 10 s step back');
is($r->{sqlstate}, 'SF001', 'minting refuses with SF001');
like(
	$r->{err},
	qr/clock stepped back by \d+ ms/,
	'the error says the clock stepped back');
like($r->{err}, qr/HINT:.*resumes by itself/, 'the hint says what happens');

ok( poll_until(
		$node, "SELECT bool_and(clock_state = 'behind') FROM snowflake_status",
		10),
	"snowflake_status shows the clock as 'behind'");

# Minting comes back on its own once the clock passes the last minted
# millisecond again: about 10 s of real time.
my $w = wait_for_mint(
	$node,
	timeout => 40,
	sql =>
	  'INSERT INTO ids (run, client, id) VALUES (2, 0, snowflake_nextval()) RETURNING id'
);
my $waited = time() - $stepped_at;
ok($w->{ok}, 'minting resumes by itself');
is_deeply([ sort keys %{ $w->{states} } ],
	['SF001'], 'until then every mint was refused with SF001');
cmp_ok($waited, '>=', 8,
	'minting resumed only once the clock had caught up (about 10 s)');
note sprintf('minting resumed %.1f s after the step', $waited);

is( $node->safe_psql(
		'postgres', qq{
		SELECT snowflake_timestamp($w->{id}) >= snowflake_timestamp($last_old)
		   AND ($w->{id} > $last_old
		        OR snowflake_timestamp($w->{id}) = snowflake_timestamp($last_old))}),
	't',
	'the first ID after the step is not below the last minted millisecond');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM ids WHERE run = 1 AND snowflake_timestamp(id) > snowflake_timestamp($w->{id})"
	),
	'0',
	'no ID minted before the step has a later timestamp than the first one after it'
);

cmp_ok(status_value($node, 'sum(refusals_clock)'),
	'>', 0, 'the refusals are counted (refusals_clock)');
cmp_ok(status_value($node, 'max(clock_regressions)'),
	'>=', 1, 'the guard counted the step (clock_regressions)');
cmp_ok(status_value($node, 'max(max_regression_ms)'),
	'>=', 9000, 'max_regression_ms shows a step of about 10 s');
ok(poll_until($node, "SELECT bool_and(clock_state = 'ok') FROM snowflake_status", 10),
	"snowflake_status shows the clock as 'ok' again");
my $log = slurp_file($node->logfile, $log_offset);
my @steps = $log =~ /snowflake: the wall clock stepped back by (\d+)\.\d{3} ms/g;
ok(scalar(grep { $_ >= 9000 && $_ <= 11000 } @steps),
	'the guard logged a step back of about 10 s')
  or diag "steps logged: @steps";

# --- Borrowing the last millisecond ------------------------------------

$node->safe_psql('postgres',
	'ALTER SYSTEM SET snowflake.clock_borrow = on; SELECT pg_reload_conf()');
ok( poll_until(
		$node, "SELECT current_setting('snowflake.clock_borrow') = 'on'", 10),
	'snowflake.clock_borrow is on after a reload');

# One session mints a few IDs, the clock steps back 10 s, and the same
# session goes on minting until it is refused.
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe(
	'INSERT INTO ids (run, client, id) SELECT 3, 0, snowflake_nextval() FROM generate_series(1, 10)'
);
my ($last_ms, $last_worker, $last_seq, $last_id) = split /\|/,
  $s->query_safe(
	"SELECT d.ts, d.worker_id, d.sequence, i.id FROM ids i, snowflake_decode(i.id) d
	 WHERE run = 3 ORDER BY n DESC LIMIT 1");
note "last ID before the step: $last_id (ts $last_ms, worker $last_worker, sequence $last_seq)";

set_clock($node, '+10');    # 10 s back again
my $refusals_before = status_value($node, 'sum(refusals_clock)');
my ($state, $msg, $count) = split /\|/,
  $s->query_safe(
	q{CREATE TEMP TABLE borrowed AS SELECT * FROM mint_until_error(40000);
	  INSERT INTO ids (run, client, id)
		SELECT 3, 0, b FROM borrowed, unnest(minted) WITH ORDINALITY AS u(b, o)
		ORDER BY o;
	  SELECT state, msg, cardinality(minted) FROM borrowed;});
note "borrowed $count IDs, then: $state $msg";
is($state, 'SF001', 'once the last millisecond is spent, minting refuses with SF001');
like($msg, qr/clock stepped back/, 'the error says the clock stepped back');

my ($first_ts, $first_worker, $first_seq) = split /\|/,
  $s->query_safe(
	"SELECT d.ts, d.worker_id, d.sequence
	 FROM borrowed, snowflake_decode(minted[1]) d");
is($first_ts, $last_ms,
	'the first ID after the step has the timestamp of the last one minted');
is($first_worker, $last_worker, '... the same worker ID');
is($first_seq, $last_seq + 1, '... and the next sequence number');
is( $s->query_safe(
		"SELECT count(*) FROM borrowed, unnest(minted) b
		 WHERE snowflake_timestamp(b) <> '$last_ms' OR b <= $last_id"),
	'0',
	'every borrowed ID has that timestamp and is above the last ID minted');
# The session borrows what is left of its slot in that millisecond, then the
# slots above it (worker IDs are 0 to slots - 1, one per slot), whole.
my $top_worker =
  $node->safe_psql('postgres', 'SELECT max(worker_id) FROM snowflake_status');
is($count, (4095 - $last_seq) + 4096 * ($top_worker - $last_worker),
	'it used every sequence number left in that millisecond, and no more');
is( $s->query_safe(
		"SELECT bool_and(max_seq = 4095) FROM (
			SELECT (snowflake_decode(b)).worker_id, max((snowflake_decode(b)).sequence) AS max_seq
			FROM borrowed, unnest(minted) b GROUP BY 1) s"),
	't',
	'every worker ID it borrowed from ran up to the last sequence number');
is( $s->query_safe(
		'SELECT state, cardinality(minted) FROM mint_until_error(1)'),
	'SF001|0',
	'the next call is refused at once (nothing left to borrow)');
$s->quit;

cmp_ok(status_value($node, 'sum(refusals_clock)'),
	'>', $refusals_before, 'the refusals are counted');

# Stepping the clock forward again (to 20 s ahead, past the borrowed
# millisecond) lets minting resume at once.
set_clock($node, '+20');
$w = wait_for_mint(
	$node,
	timeout => 10,
	sql =>
	  'INSERT INTO ids (run, client, id) VALUES (4, 0, snowflake_nextval()) RETURNING id'
);
ok($w->{ok}, 'minting resumes once the clock is past the borrowed millisecond');
is( $node->safe_psql(
		'postgres',
		"SELECT snowflake_timestamp($w->{id}) > '$last_ms' AND $w->{id} > (SELECT max(id) FROM ids WHERE run <> 4)"
	),
	't',
	'and mints above every ID minted before');
ok(poll_until($node, 'SELECT max(clock_steps_forward) >= 1 FROM snowflake_status', 10),
	'the guard counted the forward step (clock_steps_forward)');
like(
	slurp_file($node->logfile, $log_offset),
	qr/snowflake: the wall clock stepped forward by (9\d{3}|1\d{4})\.\d{3} ms/,
	'the guard logged a step forward of about 10 s');

check_ids($node, 'across the 10 s steps');

$node->stop;
done_testing();
