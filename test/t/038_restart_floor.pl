
# Copyright (c) the snowflake authors
#
# After a restart, minting resumes strictly above the durable high-water
# mark, and while the clock is within the horizon of the mark it waits for
# the clock rather than refusing.
#
# Part 1.  A server (snowflake.high_water_horizon = 2s, worker ID 5 pinned)
# has its guard worker stopped (SIGSTOP), so the mark cannot advance, and a
# session mints until it is refused (SF007): its last IDs are in the last
# millisecond below the mark.  The server goes down (immediate stop) and
# restarts leasing free worker IDs, so it mints under worker ID 0, below 5:
# only the mark keeps its IDs above the old ones.  Its clock is set half a
# second before the stored mark, so the clock cannot help.  Four sessions
# then mint at once: they wait (no SF001) and every ID they mint is above
# the highest ID minted before the restart, at or above the stored mark.
#
# Part 2.  The horizon is raised to 20 s, so the stored mark runs up to
# 20 s ahead of the clock; then it is lowered to 1 s and the server restarts
# at once, its clock where it was.  The mark stored before the restart was
# kept that far ahead under the 20 s horizon, so the clock is right and
# minting resumes by waiting (within about 20 s), not with SF001.

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

# The durable mark stored in the state table, in Unix ms and as text.
sub stored_mark
{
	my ($node) = @_;
	return split /\|/,
	  $node->safe_psql(
		'postgres', q{
		SELECT (extract(epoch FROM high_water_mark) * 1000)::int8, high_water_mark
		FROM snowflake_state.server_state});
}

my $node = new_node(
	'restart_floor', conf => q{
snowflake.worker_slots = 1
snowflake.worker_id = 5
snowflake.high_water_horizon = '2s'
});

# The server's clock runs 100 s ahead of the real one (see fake_guard).
start_faked($node, '+100');
setup_ids($node);
$node->safe_psql(
	'postgres', q{
	ALTER TABLE ids ADD COLUMN asked_at timestamptz;
	-- Mint until an error; keep only the last ID, and count the IDs that are
	-- not above the one before.  Gives up after 30 s.
	CREATE FUNCTION mint_until_refused(
			OUT calls bigint, OUT last_id bigint, OUT not_above bigint,
			OUT state text, OUT msg text)
	LANGUAGE plpgsql AS $$
	DECLARE
		id bigint;
		give_up timestamptz := clock_timestamp() + interval '30 s';
	BEGIN
		calls := 0;
		not_above := 0;
		BEGIN
			LOOP
				id := snowflake_nextval();
				calls := calls + 1;
				IF id <= last_id THEN
					not_above := not_above + 1;
				END IF;
				last_id := id;
				EXIT WHEN calls % 100000 = 0 AND clock_timestamp() > give_up;
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		END;
	END $$;
});
ok(wait_for_mint($node)->{ok}, 'minting works');
is(status_value($node, 'worker_id'), '5', 'the server mints under worker ID 5');

# --- Part 1: minting up to the mark, then a restart below it -------------

# Stop the guard worker while it is idle, with the mark it stored also
# published (it stores a mark, commits, then publishes it).  Returns the
# mark, in Unix ms and as text.
my $guard = guard_pid($node);

sub freeze_guard
{
	foreach my $try (1 .. 20)
	{
		kill('STOP', $guard) or die "could not stop the guard worker $guard: $!";
		@frozen = ($guard);
		my $deadline = time() + 10;
		usleep(10_000) while proc_state($guard) ne 'T' && time() < $deadline;
		my ($ms, $text) = stored_mark($node);
		return ($ms, $text)
		  if $node->safe_psql(
			'postgres', qq{
			SELECT bool_and(high_water_mark = '$text'::timestamptz)
			FROM snowflake_status}) eq 't';
		thaw();
		usleep(50_000);
	}
	die "the guard worker never stopped with its stored mark published";
}

# Mint until refused with the mark frozen.  The session must get to mint in
# the last millisecond below the mark; if it was not scheduled then (the
# machine is busy), let the mark move on and try again.
my ($stored_ms, $stored, $calls, $last_id, $not_above, $state, $msg, $last_ts);
foreach my $attempt (1 .. 3)
{
	($stored_ms, $stored) = freeze_guard();
	($calls, $last_id, $not_above, $state, $msg) = split /\|/,
	  $node->safe_psql('postgres', 'SELECT * FROM mint_until_refused()');
	$last_ts =
	  $node->safe_psql('postgres', "SELECT snowflake_timestamp($last_id)");
	note "mark $stored: minted $calls IDs up to $last_id ($last_ts), then: $state $msg";
	last
	  if ($state // '') ne 'SF007'
	  || $node->safe_psql('postgres',
		"SELECT '$last_ts'::timestamptz = '$stored'::timestamptz - interval '1 ms'")
	  eq 't';
	thaw();
	poll_until(
		$node, qq{
		SELECT bool_and(high_water_mark > '$stored'::timestamptz)
		FROM snowflake_status}, 10);
}
is(proc_state($guard), 'T', 'the guard worker is stopped');
is($state, 'SF007', 'with the mark frozen, minting stops at the mark (SF007)');
is($not_above, '0', 'every ID was above the one before');
is( $node->safe_psql(
		'postgres',
		"SELECT '$last_ts'::timestamptz = '$stored'::timestamptz - interval '1 ms'"),
	't',
	'the last ID is in the last millisecond below the mark')
  or diag "last ID at $last_ts, mark $stored";
$node->safe_psql('postgres',
	"INSERT INTO ids (run, client, id) VALUES (1, 0, $last_id)");

# Down with the guard still stopped: the postmaster kills it (SIGKILL)
# after a few seconds, so the mark stays where it is.
$node->stop('immediate');
@frozen = ();

# Restart leasing free worker IDs (so worker ID 0), with the clock 30 s
# before the stored mark while the server starts.
$node->append_conf('postgresql.conf', "snowflake.worker_id = -1\n");
my $log_offset = -s $node->logfile;
start_faked($node, sprintf('%+.3f', $stored_ms / 1000 - 30 - time()));
is((stored_mark($node))[0], $stored_ms,
	'the stored mark did not move after the guard was stopped');
ok( poll_until(
		$node,
		q{SELECT worker_id = 0 AND lease_state = 'held' FROM snowflake_status},
		30),
	'after the restart the server holds worker ID 0, below the old one');

# The clock half a second before the stored mark, then four sessions mint.
set_clock($node, sprintf('%+.3f', $stored_ms / 1000 - 0.5 - time()));
my ($rc, $out, $err) = run_pgbench(
	$node,
	clients => 4,
	seconds => 2,
	run     => 2,
	sql =>
	  'INSERT INTO ids (run, client, id, asked_at) SELECT :run, :client_id, snowflake_nextval(), statement_timestamp() FROM generate_series(1, 200);'
);
is($rc, 0, 'the sessions mint without an error after the restart')
  or diag "pgbench stderr:\n$err";
ok($err !~ /behind the durable high-water mark/,
	'no session was refused for being behind the mark (SF001)');
my $loaded = mark_loaded_after($node, $log_offset);
ok( defined $loaded
	  && $node->safe_psql('postgres',
		"SELECT '$loaded'::timestamptz = '$stored'::timestamptz") eq 't',
	'the guard loaded the stored mark')
  or diag 'loaded: ' . ($loaded // '(none)');
is( $node->safe_psql(
		'postgres',
		"SELECT min(asked_at) < '$stored'::timestamptz FROM ids WHERE run = 2"),
	't',
	'the sessions asked for IDs while the clock read before the stored mark');
cmp_ok(status_value($node, 'sum(waits_clock)'),
	'>', 0, 'they waited for the clock (waits_clock)');
is(status_value($node, 'sum(refusals_clock)'),
	'0', 'none was refused for the clock (refusals_clock)');
is( $node->safe_psql(
		'postgres', "SELECT count(*) > 0 FROM ids WHERE run = 2"),
	't', 'IDs were minted after the restart');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM ids WHERE run = 2 AND id <= $last_id"),
	'0',
	'every ID minted after the restart is above the highest ID minted before')
  or diag $node->safe_psql(
	'postgres', qq{
	SELECT string_agg(format('%s (ts %s, worker %s, seq %s)',
			id, d.ts, d.worker_id, d.sequence), E'\n')
	FROM (SELECT id FROM ids WHERE run = 2 AND id <= $last_id
		  ORDER BY n LIMIT 5) s, snowflake_decode(id) d});
is( $node->safe_psql(
		'postgres',
		"SELECT min(snowflake_timestamp(id)) >= '$stored'::timestamptz FROM ids WHERE run = 2"
	),
	't',
	'every ID minted after the restart is at or above the stored mark');
check_ids($node, 'across the restart below the mark');

# --- Part 2: the horizon lowered across a restart ------------------------

$node->append_conf('postgresql.conf', "snowflake.high_water_horizon = '20s'\n");
$node->reload;
ok( poll_until(
		$node, q{
		SELECT bool_and(high_water_mark > clock_timestamp() + interval '15 s')
		FROM snowflake_status}, 30),
	'with a 20 s horizon, the mark runs more than 15 s ahead of the clock');
ok(wait_for_mint($node, timeout => 10)->{ok}, 'minting works with a 20 s horizon');

$node->append_conf('postgresql.conf', "snowflake.high_water_horizon = '1s'\n");
$node->stop('immediate');
$log_offset = -s $node->logfile;
start_faked($node);    # the clock where it was
my $asked_at = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
my $t0       = time();
my $r = try_sql($node, 'SELECT snowflake_nextval()', timeout => 60);
my $took = time() - $t0;
my $mark = mark_loaded_after($node, $log_offset);
note sprintf('first mint after lowering the horizon: %.1f s; clock %s, loaded mark %s',
	$took, $asked_at, $mark // '(none)');
ok( defined $mark
	  && $node->safe_psql('postgres',
		"SELECT '$mark'::timestamptz > '$asked_at'::timestamptz + interval '5 s'")
	  eq 't',
	'when minting was asked for, the clock was more than 5 s behind the stored mark');
is($r->{ret}, 0,
	'after lowering the horizon, the first mint succeeds by waiting (no SF001)'
) or diag "stderr: $r->{err}";
if ($r->{ret} == 0)
{
	cmp_ok($took, '<', 25, 'it waited less than the old 20 s horizon (and slack)');
	is( $node->safe_psql(
			'postgres',
			"SELECT snowflake_timestamp($r->{out}) >= '$mark'::timestamptz"),
		't',
		'its ID is at or above the mark stored before the restart')
	  if defined $mark;
}
else
{
	my $w = wait_for_mint($node, timeout => 30);
	note sprintf('minting resumed %.1f s after the restart', time() - $t0)
	  if $w->{ok};
}

$node->stop;
done_testing();
