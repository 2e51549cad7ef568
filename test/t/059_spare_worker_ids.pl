
# Copyright (c) the snowflake authors
#
# snowflake.clock_step_policy = spare: after a backward step of the wall
# clock larger than snowflake.max_clock_wait, minting goes on under a spare
# worker ID instead of refusing with SF001.
#
# - The lease keeper holds two spares besides the two slots;
#   snowflake_status shows them (spare = true).
# - A step within max_clock_wait is still waited out on the slots; no
#   spare mints.
# - After a 20 s step back, per-row, batch and concurrent minting all go on
#   at once under spare worker IDs, at the stepped-back clock; the
#   session's IDs increase among themselves; ids_on_spares counts exactly
#   the IDs minted; the guard logs the move onto the spare and back.
# - Once the clock has caught up, minting is back on the slots, above
#   everything minted before the step.
# - A spare is fenced like every slot: with the lease keeper frozen past the
#   fencing deadline, minting on the spare refuses.
# - A second step back, into clock time the first spare already minted in:
#   minting goes on on the other spare.
# - A crash while minting on a spare: after the restart nothing mints, on a
#   spare either, until the clock has passed the durable mark; whoever holds
#   a worker ID afterwards mints above every ID minted under it before the
#   crash; and a step back after that mints on a spare again.
# - No ID repeats over the whole run.
# - Embedded and idle, the spares' leases lapse with the slot's; a step back
#   then asks for the renewal and mints on a spare once it has come.

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

# the tests' short lease timings: the fencing deadline 4 s after a renewal
my $leases = join('', map { "$_ = '$FleetTest::FAST_LEASES{$_}'\n" }
	  sort keys %FleetTest::FAST_LEASES);

# No ID in table ids of $n was minted twice.
sub no_id_twice
{
	my ($n) = @_;
	my ($total, $distinct) = split /\|/,
	  $n->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id) FROM ids');
	is($distinct, $total, "no ID was minted twice ($total IDs)");
	return;
}

my $node = new_node(
	'spare',
	conf => $leases . "restart_after_crash = on
snowflake.clock_step_policy = spare
snowflake.spare_worker_ids = 2
snowflake.worker_slots = 2
snowflake.idle_after = 0
snowflake.max_clock_wait = 2s
");
start_faked($node, '+30');
setup_ids($node);
ok(wait_for_mint($node)->{ok}, 'minting works');

# --- The spare slot ----------------------------------------------------

ok( poll_until(
		$node, q{
		SELECT count(*) = 4
		   AND count(*) FILTER (WHERE spare) = 2
		   AND bool_and(lease_state = 'held')
		   AND bool_and(spare = (slot >= 2))
		FROM snowflake_status}, 30),
	'two slots and two spare slots (the last), each holding a lease');
my @spare_workers = split /\n/, $node->safe_psql('postgres',
	'SELECT worker_id FROM snowflake_status WHERE spare ORDER BY slot');
my %is_spare = map { $_ => 1 } @spare_workers;
note "spare worker IDs: @spare_workers";
like(
	slurp_file($node->logfile),
	qr/leased worker ID $spare_workers[0] as a spare/,
	'the keeper logged the spare lease');

sub spare_ids
{
	return $node->safe_psql('postgres',
		'SELECT max(ids_on_spares) FROM snowflake_status');
}
is(spare_ids(), '0', 'ids_on_spares starts at 0');

$node->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 1, 0, snowflake_nextval() FROM generate_series(1, 1000)'
);

# --- A step within max_clock_wait is waited out on the slots -----------

set_clock($node, '+29');    # 1 s back; max_clock_wait is 2 s
my $t_small = time();
my $small = $node->safe_psql('postgres',
	q{WITH m AS (SELECT * FROM mint_until_error(200)),
	  i AS (INSERT INTO ids (run, client, id) SELECT 1, 1, unnest(minted) FROM m)
	  SELECT state IS NULL, cardinality(minted) FROM m});
my $waited_small = time() - $t_small;
is($small, 't|200', 'a 1 s step back is waited out');
cmp_ok($waited_small, '>=', 0.5, sprintf('minting waited for the clock (%.2f s)', $waited_small));
is(spare_ids(), '0', 'no ID was minted on a spare for it');
set_clock($node, '+30');

# --- A 20 s step back: minting goes on on a spare ----------------------

my ($last_old, $last_old_ms) = split /\|/,
  $node->safe_psql('postgres',
	q{SELECT max(id), (extract(epoch FROM snowflake_timestamp(max(id))) * 1000)::bigint FROM ids});
my $log_offset = -s $node->logfile;

set_clock($node, '+10');    # 20 s back
my $stepped_at = time();

my $r = try_sql(
	$node, q{
	INSERT INTO ids (run, client, id)
	SELECT 2, 0, unnest(minted) FROM mint_until_error(2000)
	RETURNING id});
is($r->{ret}, 0, 'minting right after a 20 s step back works');
my $rows = $node->safe_psql('postgres',
	'SELECT count(*) FROM ids WHERE run = 2');
is($rows, '2000', 'all 2,000 per-row mints after the step succeeded');
my $spent = time() - $stepped_at;
note sprintf('2,000 IDs minted %.2f s after the step', $spent);

$node->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 3, 0, b FROM snowflake_batch(3000) AS b');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ids WHERE run = 3'),
	'3000', 'a batch of 3,000 after the step');

# concurrent sessions, each a pgbench client inserting per row
my $bench = start_pgbench($node, clients => 4, seconds => 2, run => 4);
finish_pgbench($bench);

my ($n_step, $max_step_ms, $min_step_ms) = split /\|/,
  $node->safe_psql(
	'postgres', q{
	SELECT count(*),
	       (extract(epoch FROM max(snowflake_timestamp(id))) * 1000)::bigint,
	       (extract(epoch FROM min(snowflake_timestamp(id))) * 1000)::bigint
	FROM ids WHERE run IN (2, 3, 4)});
my @workers = split /\n/, $node->safe_psql('postgres',
	'SELECT DISTINCT snowflake_worker_id(id) FROM ids WHERE run IN (2, 3, 4)');
cmp_ok($n_step, '>', 5000, "IDs minted during the step ($n_step)");
# the first spare's 4,096 sequence numbers a millisecond are enough
is(join(',', @workers), $spare_workers[0],
	'every one under the first spare worker ID');
cmp_ok($max_step_ms, '<', $last_old_ms,
	'their time field is below the last millisecond minted before the step');
cmp_ok($last_old_ms - $min_step_ms, '>', 18000,
	'and near the stepped-back clock, about 20 s behind it');
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*) FROM (
			SELECT id, lag(id) OVER (PARTITION BY run, client ORDER BY n) AS prev
			FROM ids WHERE run IN (2, 3, 4)) s
		WHERE id <= prev}),
	'0',
	"each session's IDs increase among those minted on the spares");
is(spare_ids(), $n_step, 'ids_on_spares counts exactly the IDs minted on the spare');
is( $node->safe_psql(
		'postgres',
		q{SELECT sum(refusals_clock) FROM snowflake_status}),
	'0',
	'no mint was refused for the clock');
is( $node->safe_psql(
		'postgres',
		q{SELECT bool_and(clock_state = 'behind') FROM snowflake_status}),
	't',
	'snowflake_status still shows the clock as behind');
$node->wait_for_log(qr/minting goes on under spare worker IDs/, $log_offset);
pass('the guard logged that minting went on under spare worker IDs');

# --- A spare is fenced like every slot ---------------------------------

my $keeper = keeper_pid($node);
kill('STOP', $keeper);
my $frozen_at = time();
# the deadline is at most 4 s after the last renewal was sent
usleep(5_000_000);
my $f = try_sql($node, 'SELECT snowflake_nextval()');
kill('CONT', $keeper);
note sprintf('minted after %.1f s of a frozen keeper: ret %d', time() - $frozen_at,
	$f->{ret});
is($f->{sqlstate}, 'SF001',
	'with the keeper frozen past the fencing deadline, minting on the spare refuses');
like($f->{err}, qr/no spare worker ID can mint/,
	'and says that no spare worker ID can mint');

# minting on the spare comes back with the keeper's next renewal
my $back = wait_for_mint(
	$node,
	timeout => 10,
	sql => 'INSERT INTO ids (run, client, id) VALUES (5, 0, snowflake_nextval()) RETURNING id');
ok($back->{ok}, 'minting on the spare resumes once the keeper renews');

# --- The clock catches up: back on the slots ---------------------------

my $caught_up = 0;
my $deadline = time() + 40;
while (time() < $deadline)
{
	my $id = $node->safe_psql('postgres',
		'INSERT INTO ids (run, client, id) VALUES (6, 0, snowflake_nextval()) RETURNING id'
	);
	if ($id > $last_old)
	{
		$caught_up = 1;
		last;
	}
	usleep(100_000);
}
ok($caught_up, 'once the clock has caught up, IDs are above those before the step');
note sprintf('back on the slots %.1f s after the step', time() - $stepped_at);
my @after = split /\n/, $node->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 7, 0, snowflake_nextval() FROM generate_series(1, 1000) RETURNING snowflake_worker_id(id)'
);
ok(@after == 1000 && !grep({ $is_spare{$_} } @after),
	'and minted on the slots, not the spares');
$node->wait_for_log(
	qr/minting is back on the slots after \d+ IDs on spare worker IDs/,
	$log_offset);
pass('the guard logged that minting is back on the slots');

# --- A second step back, into time a spare already minted in -----------

# 25 s back, into the time the first spare minted in (it minted from 20 s
# behind the step above until the clock caught up), yet after the second
# spare's floor: the time the lease keeper that ran on the real clock
# released it (see fake_guard in SnowflakeTest.pm), about 20 s earlier.
# Far enough that the clock is still behind the durable mark after the
# crash restart below.
set_clock($node, '-15');
my $second = $node->safe_psql('postgres',
	q{WITH m AS (SELECT * FROM mint_until_error(3000)),
	  i AS (INSERT INTO ids (run, client, id) SELECT 8, 0, unnest(minted) FROM m)
	  SELECT state, msg, detail FROM m});
note "after the second step: $second" if $second ne '||';
is($node->safe_psql('postgres', 'SELECT count(*) FROM ids WHERE run = 8'),
	'3000', 'minting went on after the second step');
is( $node->safe_psql(
		'postgres',
		'SELECT string_agg(DISTINCT snowflake_worker_id(id)::text, \',\') FROM ids WHERE run = 8'),
	$spare_workers[1],
	'on the other spare: the first had minted at those times already');

# --- A crash while minting on a spare ---------------------------------

$log_offset = -s $node->logfile;
$bench = start_pgbench($node, clients => 2, seconds => 60, run => 9);
ok( poll_until($node, 'SELECT count(*) > 500 FROM ids WHERE run = 9', 30),
	'sessions are minting on a spare');
my $victim = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1");
kill('KILL', $victim);
$node->wait_for_log(qr/all server processes terminated; reinitializing/,
	$log_offset);
pass('a minting backend killed: the server restarts after the crash');
finish_pgbench($bench);
ok(poll_until($node, 'SELECT true', 60), 'the server accepts connections again');

# Right after the restart the clock is 25 s behind the durable mark: nothing
# mints until the clock has passed it, spares included.  (Checked before
# the workers are put on the faked clock, which can take as long as the
# clock is behind: the backends mint on the faked clock either way.)
my $c = try_sql($node, 'SELECT snowflake_nextval()');
is($c->{sqlstate}, 'SF001',
	'after the crash, minting refuses while the clock is behind the mark');
like($c->{err}, qr/behind the durable high-water mark/,
	'for the durable mark: no spare mints before the clock has passed it');

fake_guard($node);

# the table ids is WAL-logged: every ID committed before the crash is there
$node->safe_psql('postgres', 'CREATE TABLE before_crash AS SELECT * FROM ids');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM before_crash WHERE run = 9'),
	'>', 500, 'the IDs the sessions minted on the spare before the crash');

set_clock($node, '+30');    # the clock passes the mark
my $w = wait_for_mint(
	$node,
	timeout => 40,
	sql => 'INSERT INTO ids (run, client, id) VALUES (10, 1, snowflake_nextval()) RETURNING id');
ok($w->{ok}, 'minting resumes once the clock has passed the mark');
$node->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 10, 2, snowflake_nextval() FROM generate_series(1, 1000)'
);

# once the keeper holds its leases again, a step back mints on a spare
ok( poll_until(
		$node, q{SELECT bool_and(lease_state = 'held') FROM snowflake_status},
		30),
	'after the restart the slots and the spare hold leases again');
set_clock($node, '+20');    # 10 s back
$node->safe_psql('postgres',
	q{INSERT INTO ids (run, client, id)
	  SELECT 11, 0, unnest(minted) FROM mint_until_error(2000)});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ids WHERE run = 11'),
	'2000', 'after the restart, a step back mints on the spare again');

# Per worker ID: everything minted after the crash is above everything
# minted under it before.
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*) FROM (
			SELECT snowflake_worker_id(id) AS w, max(id) AS hi
			FROM before_crash GROUP BY 1) b
		JOIN ids a ON snowflake_worker_id(a.id) = b.w
		WHERE a.run >= 10 AND a.id <= b.hi}),
	'0',
	'every worker ID mints above its IDs from before the crash');
no_id_twice($node);

$node->stop;

# --- Spares lapsed while the server was idle ---------------------------
#
# Embedded, an idle server lets its leases lapse at their deadlines and
# renews them at the next mint.  A step back that finds the spares lapsed
# asks for that renewal too, and mints on a spare once it has come.

my $idle = new_node(
	'spare_idle',
	conf => $leases . "snowflake.clock_step_policy = spare
snowflake.spare_worker_ids = 1
snowflake.worker_slots = 1
snowflake.idle_after = 1s
");
start_faked($idle, '+30');
setup_ids($idle);
ok(wait_for_mint($idle)->{ok}, 'the idle server mints');
$idle->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 1, 0, snowflake_nextval() FROM generate_series(1, 1000)'
);
ok( poll_until(
		$idle, q{
		SELECT bool_and(lease_state = 'idle' AND fencing_left_ms IS NOT NULL
		                AND fencing_left_ms <= 0)
		FROM snowflake_status}, 30),
	'idle: the slot and the spare lapsed at their deadlines');
set_clock($idle, '+20');    # 10 s back
my $li = $idle->safe_psql('postgres',
	q{WITH m AS (SELECT * FROM mint_until_error(100)),
	  i AS (INSERT INTO ids (run, client, id) SELECT 2, 0, unnest(minted) FROM m)
	  SELECT coalesce(state, 'ok') || ' ' || cardinality(minted) || ' ' || coalesce(msg, '') FROM m});
like($li, qr/^ok 100 /, 'a step back after the idle lapse mints on the spare once renewed')
  or diag $li;
is( $idle->safe_psql(
		'postgres',
		q{SELECT count(*) FROM ids WHERE run = 2 AND snowflake_worker_id(id) =
		    (SELECT worker_id FROM snowflake_status WHERE spare)}),
	'100',
	'under the spare worker ID');
no_id_twice($idle);
$idle->stop;

done_testing();
