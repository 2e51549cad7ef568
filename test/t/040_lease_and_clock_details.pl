
# Copyright (c) the snowflake authors
#
# Three guarantees of the lease keeper and the clock guard.
#
# Part 1.  A worker ID whose floor (the highest time its previous holders
# may have minted at) is far ahead of this server's clock is passed over
# with snowflake.worker_id = -1, not waited for: a server (two slots, short
# lease timings) whose own released rows for worker IDs 0 and 1 carry floors
# an hour ahead -- the only rows it would take first -- mints within
# seconds under other worker IDs, and the rows of 0 and 1 keep their floors.
# A server pinned to worker ID 0 (snowflake.worker_id = 0) waits instead:
# its slot shows the lease "waiting", and minting refuses with SF002, whose
# detail gives the time the previous holder may have minted up to.
#
# Part 2.  A backward step of the wall clock that the guard worker misses
# (it is stopped with SIGSTOP while the clock steps back 1 s and forward
# again) is still counted, once: the minting session that meets it refuses
# with SF001, clock_regressions in snowflake_status goes up by exactly one,
# and minting again and again within the step counts nothing more.  Once
# the guard runs again, it logs what the minting sessions saw ("minting
# sessions saw the wall clock up to N ms behind ...", N the step the
# session reported), though it saw no step itself, and counts nothing more.
#
# Part 3.  The workers' statements are bounded by statement_timeout (5 s
# for the lease keeper, 10 s for the guard), though PostgreSQL arms it only
# for client statements: a trigger that stalls the keeper's renewal of
# snowflake_state.worker_lease and the guard's update of
# snowflake_state.server_state (sleeping, no lock) is cancelled with
# "canceling statement due to statement timeout", logged, and once it stops
# stalling, leases are renewed and minting goes on.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Sys::Hostname;
use Test::More;
use Time::HiRes qw(usleep time);

require_faketime();

# Stop $pid (a background worker of $node) with SIGSTOP while it sleeps on
# its latch between two ticks, not in the middle of one.
sub freeze_idle
{
	my ($node, $pid) = @_;
	foreach my $try (1 .. 50)
	{
		kill('STOP', $pid) or die "could not stop $pid: $!";
		@frozen = ($pid);
		my $deadline = time() + 10;
		usleep(5_000) while proc_state($pid) ne 'T' && time() < $deadline;
		return 1
		  if $node->safe_psql('postgres',
			"SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid"
		  ) eq 't';
		thaw();
		usleep(20_000);
	}
	return 0;
}

# Poll the server log of $node from $offset for $re, at most $timeout
# seconds; returns the list of captures of the first match (or (1) when
# the pattern captures nothing), or an empty list.
sub log_match
{
	my ($node, $offset, $re, $timeout) = @_;
	my $deadline = time() + $timeout;
	while (1)
	{
		my @m = slurp_file($node->logfile, $offset) =~ $re;
		return @m if @m;
		return () if time() > $deadline;
		usleep(100_000);
	}
}

my $lease_conf = join('',
	map { "$_ = '$FleetTest::FAST_LEASES{$_}'\n" } sort keys %FleetTest::FAST_LEASES);

# =====================================================================
# Part 1: a worker ID whose floor is far ahead is passed over, unless
# pinned
# =====================================================================

my $node = PostgreSQL::Test::Cluster->new('far_floor');
$node->init;
$node->append_conf('postgresql.conf',
	"snowflake.worker_slots = 2\ncluster_name = 'far_floor'\n$lease_conf");

# Without the library: the coordination table, as the lease keeper creates
# it, with this server's own released leases of worker IDs 0 and 1, whose
# floors are an hour ahead.  This server's own released worker IDs are the
# ones it leases first.
$node->start;
my $sysid = $node->safe_psql('postgres',
	'SELECT system_identifier FROM pg_control_system()');
my $host = hostname();
my $port = $node->port;
$node->safe_psql(
	'postgres', qq{
	CREATE SCHEMA snowflake_state;
	CREATE TABLE snowflake_state.worker_lease (
		worker_id int4 PRIMARY KEY CHECK (worker_id >= 0),
		holder_system_id text NOT NULL,
		holder_host text NOT NULL,
		holder_port int4 NOT NULL,
		holder_cluster_name text NOT NULL,
		holder_pid int4 NOT NULL,
		acquired_at timestamptz NOT NULL,
		renewed_at timestamptz NOT NULL,
		expires_at timestamptz NOT NULL,
		fencing_token int8 NOT NULL,
		last_minted_at timestamptz,
		minting_until timestamptz,
		released_at timestamptz);
	INSERT INTO snowflake_state.worker_lease
	SELECT w, '$sysid', '$host', $port, 'far_floor', 1,
		now() - interval '10 min', now() - interval '1 min', now() - interval '1 min',
		3, date_trunc('milliseconds', now() + interval '1 hour') + w * interval '1 ms',
		now() - interval '1 min', now() - interval '1 min'
	FROM generate_series(0, 1) w;});
my %floor = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres',
	'SELECT worker_id, last_minted_at FROM snowflake_state.worker_lease ORDER BY 1');
note "floors: 0 => $floor{0}, 1 => $floor{1}";
$node->stop;

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'snowflake'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');

my $w = wait_for_mint($node, timeout => 20);
ok($w->{ok}, 'the server mints though its own worker IDs 0 and 1 have floors an hour ahead');
note sprintf('first ID after %.1f s; refusals before it: %s',
	$w->{seconds} // -1,
	join(', ', map { "$_ x$w->{states}{$_}" } sort keys %{ $w->{states} }));
ok( poll_until(
		$node, q{
		SELECT count(*) = 2 AND bool_and(lease_state = 'held' AND worker_id NOT IN (0, 1))
		  FROM snowflake_status}, 15),
	'both slots hold leases on worker IDs other than 0 and 1');
note 'slots: ' . slot_states($node);
is( try_sql(
		$node, q{
		SELECT count(*) || '|' || count(*) FILTER (WHERE snowflake_worker_id(id) IN (0, 1))
		  FROM (SELECT snowflake_nextval() AS id FROM generate_series(1, 2000)) s})->{out},
	'2000|0',
	'no ID is minted under worker ID 0 or 1');
is( $node->safe_psql(
		'postgres', q{
		SELECT string_agg(worker_id || ':' || last_minted_at || ':' || (released_at IS NOT NULL),
		                  ',' ORDER BY worker_id)
		  FROM snowflake_state.worker_lease WHERE worker_id IN (0, 1)}),
	"0:$floor{0}:true,1:$floor{1}:true",
	'the rows of worker IDs 0 and 1 keep their floors and stay released');

# Pinned to worker ID 0 (slots take 0 and 1): the server takes them and
# waits for their floors.
$node->append_conf('postgresql.conf', "snowflake.worker_id = 0\n");
$node->restart;
ok( poll_until(
		$node, q{
		SELECT string_agg(worker_id || ':' || lease_state, ',' ORDER BY slot) = '0:waiting,1:waiting'
		  FROM snowflake_status}, 15),
	'pinned to worker ID 0, the slots show worker IDs 0 and 1 as waiting')
  or diag 'slots: ' . slot_states($node);
is( $node->safe_psql(
		'postgres', qq{
		SELECT string_agg(worker_id || ':' || (released_at IS NULL) || ':' || holder_port, ','
		                  ORDER BY worker_id)
		  FROM snowflake_state.worker_lease WHERE worker_id IN (0, 1)}),
	"0:true:$port,1:true:$port",
	'the pinned server holds the leases of worker IDs 0 and 1 (not passed over)');
my $floor0 = $floor{0};
my $r = try_sql($node, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF002', 'the pinned server refuses to mint with SF002');
like(
	$r->{err},
	qr/DETAIL:\s+Worker ID 0 is leased, but its previous holder may have minted up to \Q$floor0\E, and this server's clock has not passed that yet/,
	"the detail gives the time worker ID 0's previous holder may have minted up to"
) or diag $r->{err};
is( $node->safe_psql(
		'postgres', q{
		SELECT string_agg(worker_id || ':' || last_minted_at, ',' ORDER BY worker_id)
		  FROM snowflake_state.worker_lease WHERE worker_id IN (0, 1)}),
	"0:$floor{0},1:$floor{1}",
	'taking them over left the floors of worker IDs 0 and 1 where they were');
$node->stop;

# =====================================================================
# Part 2: a step back the guard misses is counted once, and logged
# =====================================================================

# The server's clock runs 30 s ahead of the real one (see fake_guard in
# SnowflakeTest.pm for why it is not 0); the mark runs 20 s ahead of the
# clock, so minting goes on while the guard is stopped.
my $step = new_node(
	'missed_step', conf => q{
snowflake.worker_slots = 1
snowflake.high_water_horizon = '20s'
});
start_faked($step, '+30');
$step->safe_psql(
	'postgres', q{
	CREATE EXTENSION snowflake;
	-- Mint until refused, then at once mint again until it works: the
	-- SQLSTATE and message of the first refusal, clock_regressions right
	-- after it, how many times minting again was refused for the clock,
	-- and the last ID before and the first ID after.  Gives up after 20 s.
	CREATE FUNCTION mint_through_step(
			OUT calls bigint, OUT last_before bigint, OUT state text, OUT msg text,
			OUT regressions_at_refusal bigint, OUT refused_again bigint,
			OUT other_state text, OUT first_after bigint)
	LANGUAGE plpgsql AS $$
	DECLARE
		id bigint;
		give_up timestamptz := clock_timestamp() + interval '20 s';
		s text;
	BEGIN
		calls := 0;
		refused_again := 0;
		BEGIN
			LOOP
				id := snowflake_nextval();
				calls := calls + 1;
				last_before := id;
				EXIT WHEN calls % 10000 = 0 AND clock_timestamp() > give_up;
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		END;
		IF state IS NULL THEN
			RETURN;
		END IF;
		SELECT max(clock_regressions) INTO regressions_at_refusal FROM snowflake_status;
		LOOP
			BEGIN
				first_after := snowflake_nextval();
				EXIT;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE;
				IF s <> 'SF001' THEN
					other_state := s;
					EXIT;
				END IF;
				refused_again := refused_again + 1;
			END;
			EXIT WHEN clock_timestamp() > give_up;
		END LOOP;
	END $$;});
ok(wait_for_mint($step)->{ok}, 'minting works');

my $base = status_value($step, 'max(clock_regressions)');
my $log_offset = -s $step->logfile;
my $guard = guard_pid($step);
ok(freeze_idle($step, $guard), 'the guard worker is stopped (SIGSTOP) between two ticks');

# One session mints continuously; once it has minted, the clock steps back
# 1 s (50 times snowflake.max_clock_wait) under it.
my $issued = status_value($step, 'sum(ids_issued)');
my $s = $step->background_psql('postgres');
$s->query_until(qr/started/, "\\echo started\nSELECT * FROM mint_through_step();\n\\echo finished\n");
ok( poll_until(
		$step, "SELECT sum(ids_issued) > $issued + 1000 FROM snowflake_status", 10),
	'a session mints continuously');
set_clock($step, '+29');
my $out = $s->query_until(qr/finished\r?\n/, '');
$s->quit;
my ($row) = grep { /\|/ } split /\r?\n/, $out;
my ($calls, $last_before, $state, $msg, $at_refusal, $again, $other, $first_after) =
  split /\|/, ($row // ''), -1;
note "session: $calls IDs up to $last_before, then $state: $msg; refused again $again times;"
  . " other: $other; first ID after: $first_after";

is(proc_state($guard), 'T', 'the guard worker was stopped all along');
is($state, 'SF001', 'the session meeting the step is refused with SF001');
my ($behind) = ($msg // '') =~ /the clock stepped back by (\d+) ms/;
ok(defined $behind && $behind > 500 && $behind <= 1001,
	'the refusal reports a step of about 1 s (' . ($behind // 'none') . ' ms)');
is($at_refusal, $base + 1, 'clock_regressions went up by one at the refusal');
cmp_ok($again || 0, '>', 0, "minting again within the step was refused again ($again times)");
is($other, '', 'minting again was refused for the clock only');
ok($first_after ne '' && $first_after > $last_before,
	'once the clock had caught up, the session minted above its last ID');
is(status_value($step, 'max(clock_regressions)'), $base + 1,
	'minting again within the step did not count it again');
cmp_ok(status_value($step, 'max(max_regression_ms)'), '>=', $behind // 1000,
	'max_regression_ms shows the step');

# The clock steps forward again before the guard resumes: the guard sees no
# step of its own, only what the minting session counted.
set_clock($step, '+30');
thaw();
my ($logged_behind) = log_match($step, $log_offset,
	qr/snowflake: minting sessions saw the wall clock up to (\d+) ms behind the highest millisecond minted \(1 time\)/,
	15);
is($logged_behind, $behind,
	'the guard logs the step the minting session saw, once, with its size');
unlike(slurp_file($step->logfile, $log_offset),
	qr/the wall clock stepped back/, 'the guard itself saw no step back');
is(status_value($step, 'max(clock_regressions)'), $base + 1,
	'the guard counted the step no more');
ok(wait_for_mint($step, timeout => 10)->{ok}, 'minting goes on');
$step->stop;

# =====================================================================
# Part 3: the workers' statements are bounded by statement_timeout
# =====================================================================

# The first server again, leasing free worker IDs.
$node->append_conf('postgresql.conf', "snowflake.worker_id = -1\n");
$node->start;
ok(wait_for_mint($node, timeout => 20)->{ok}, 'the first server mints again');

# A trigger that sleeps while table stall_on has a row (at most 60 s), on
# every update of the coordination table and of the guard's state table.
$node->safe_psql(
	'postgres', q{
	CREATE TABLE public.stall_on ();
	CREATE FUNCTION public.stall() RETURNS trigger LANGUAGE plpgsql AS $$
	DECLARE
		until timestamptz := clock_timestamp() + interval '60 s';
	BEGIN
		WHILE EXISTS (SELECT FROM public.stall_on) AND clock_timestamp() < until LOOP
			PERFORM pg_sleep(0.05);
		END LOOP;
		RETURN NEW;
	END $$;
	INSERT INTO public.stall_on DEFAULT VALUES;});
$log_offset = -s $node->logfile;
my $keeper_pid = worker_pid($node, 'snowflake lease keeper');
my $guard_pid  = guard_pid($node);
$node->safe_psql(
	'postgres', q{
	CREATE TRIGGER stall BEFORE UPDATE ON snowflake_state.worker_lease
		FOR EACH ROW EXECUTE FUNCTION public.stall();
	CREATE TRIGGER stall BEFORE UPDATE ON snowflake_state.server_state
		FOR EACH ROW EXECUTE FUNCTION public.stall();});

ok( poll_until(
		$node, qq{
		SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $keeper_pid},
		10),
	"the lease keeper's renewal stalls in the trigger");
my $keeper_stalled = time();
ok( poll_until(
		$node, qq{
		SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $guard_pid},
		10),
	"the guard's update of the mark stalls in the trigger");
my $guard_stalled = time();

ok( log_match(
		$node, $log_offset,
		qr/snowflake: could not lease or renew worker IDs: canceling statement due to statement timeout/,
		$keeper_stalled + 10 - time()),
	"the lease keeper's statement is cancelled by statement_timeout and logged");
my $keeper_took = time() - $keeper_stalled;
ok( log_match(
		$node, $log_offset,
		qr/snowflake: could not advance the high-water mark: canceling statement due to statement timeout/,
		$guard_stalled + 15 - time()),
	"the guard's statement is cancelled by statement_timeout and logged");
my $guard_took = time() - $guard_stalled;
note sprintf('cancelled %.1f s (keeper) and %.1f s (guard) after they were seen stalling',
	$keeper_took, $guard_took);
is(worker_pid($node, 'snowflake lease keeper') . '/' . guard_pid($node),
	"$keeper_pid/$guard_pid", 'both workers carried on (not restarted)');

# Stop stalling: leases are renewed again and minting goes on.
$node->safe_psql(
	'postgres', q{
	DELETE FROM public.stall_on;
	DROP TRIGGER stall ON snowflake_state.worker_lease;
	DROP TRIGGER stall ON snowflake_state.server_state;});
$w = wait_for_mint($node, timeout => 20);
ok($w->{ok}, 'minting goes on once the statements finish again');
ok( poll_until(
		$node, q{SELECT bool_and(lease_state = 'held') FROM snowflake_status}, 10),
	'both slots hold their leases again');

$node->stop;
done_testing();
