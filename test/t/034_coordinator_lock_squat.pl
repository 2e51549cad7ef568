
# Copyright (c) the snowflake authors
#
# No advisory lock that an ordinary role of the coordinator can take stops a
# fleet from minting.  The role mallory (LOGIN, no other right) keeps a
# session open on the coordinator that holds the advisory locks
# (1397641047, -1) and (1397641047, w) for every worker ID w from 0 to 1023,
# before any server of the fleet has created the coordination table.
#
# - A server leasing free worker IDs (snowflake.worker_id = -1, two slots)
#   creates the table and mints within 10 s.
# - With the locks of the worker IDs alone (key -1 let go), it mints within
#   10 s, and so does a server pinned to worker ID 4.
# - With all the locks held again, the lease keeper of the first server is
#   ended (SIGTERM); the postmaster starts it again after 1 s, and minting,
#   tried in a loop all along, is never refused for longer than that
#   restart (2 s at most here).
# - mallory's session and its locks stay (the fleet's role cannot end it).

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

my $SNOW = 1397641047;

sub outcome
{
	my ($w) = @_;
	return sprintf('%s after %.1f s; refusals: %s; errors: %s',
		$w->{ok} ? "minted $w->{id}" : 'did not mint',
		$w->{seconds},
		join(', ', map { "$_ x $w->{states}{$_}" } sort keys %{ $w->{states} }),
		join(' | ', @{ $w->{errors} }));
}

my $coord = new_coordinator('coordinator');
$coord->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');

# mallory's session, kept open, holds the locks.
my $mallory = $coord->background_psql('postgres',
	on_error_stop => 1, extra_params => [ '-U', 'mallory' ]);
my $mallory_pid = $mallory->query_safe('SELECT pg_backend_pid()');
$mallory->query_safe(
	"SELECT pg_advisory_lock($SNOW, -1);
	 SELECT count(pg_advisory_lock($SNOW, w)) FROM generate_series(0, 1023) w;");
my $mallory_locks = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE a.usename = 'mallory' AND l.locktype = 'advisory' AND l.granted
	  AND l.classid = $SNOW AND l.pid = $mallory_pid";
is($coord->safe_psql('postgres', $mallory_locks), '1025',
	"mallory's session holds the advisory locks of key -1 and of worker IDs 0 to 1023");
is( $coord->safe_psql('postgres',
		"SELECT to_regclass('snowflake_state.worker_lease') IS NULL"),
	't', 'no coordination table yet');

# 1. A server leasing free worker IDs, first of the fleet.
my $auto = new_fleet_node('fleet_auto', $coord,
	conf => "snowflake.worker_slots = 2\nsnowflake.worker_id = -1\n");
$auto->start;
$auto->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($auto, timeout => 10);
ok($w->{ok}, 'a new fleet server leasing free worker IDs mints within 10 s')
  or diag outcome($w);
note 'fleet_auto: ' . outcome($w);

# 2. The worker-ID locks alone: mallory lets go of key -1 (the table then
#    exists, whatever happened above), and takes it again afterwards.
$mallory->query_safe("SELECT pg_advisory_unlock($SNOW, -1)");
ok( poll_until(
		$coord, "SELECT to_regclass('snowflake_state.worker_lease') IS NOT NULL", 10),
	'the coordination table exists');
$w = wait_for_mint($auto, timeout => 10);
ok($w->{ok}, 'with only the worker-ID locks held, that server mints within 10 s')
  or diag outcome($w);
note 'fleet_auto, worker-ID locks only: ' . outcome($w);
note 'fleet_auto slots: ' . slot_states($auto);

my $pinned = new_fleet_node('fleet_pinned', $coord,
	conf => "snowflake.worker_slots = 1\nsnowflake.worker_id = 4\n");
$pinned->start;
$pinned->safe_psql('postgres', 'CREATE EXTENSION snowflake');
$w = wait_for_mint($pinned, timeout => 10);
ok($w->{ok}, 'a fleet server pinned to worker ID 4 mints within 10 s')
  or diag outcome($w);
note 'fleet_pinned: ' . outcome($w);
is(slot_states($pinned), '4:held', 'it holds worker ID 4');
$mallory->query_safe("SELECT pg_advisory_lock($SNOW, -1)");
is($coord->safe_psql('postgres', $mallory_locks), '1025',
	"mallory's session holds all 1025 advisory locks again");

# 3. The lease keeper of the first server restarts while it mints.
my $old_keeper = keeper_pid($auto);
like($old_keeper, qr/^\d+$/, "fleet_auto's lease keeper runs (PID $old_keeper)");
my @calls;    # [start time, ok, sqlstate]

sub mint_once
{
	my $start = time();
	my $r = try_sql($auto, 'SELECT snowflake_nextval()');
	push @calls, [ $start, $r->{ret} == 0, $r->{sqlstate} // ($r->{ret} ? "exit $r->{ret}" : '') ];
	return;
}
mint_once() for 1 .. 5;
is(scalar(grep { $_->[1] } @calls), 5, 'fleet_auto mints before its lease keeper is ended');
$auto->safe_psql('postgres',
	'SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	  WHERE backend_type = \'snowflake lease keeper\'');
my $killed_at = time();
mint_once() while time() < $killed_at + 6;
ok( poll_until(
		$auto, "SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'snowflake lease keeper' AND pid <> $old_keeper", 5),
	'the postmaster started the lease keeper again');

# Longest run of refusals: from the first refused call to the next call
# that minted (or the end of the loop).
my ($longest, $run_start, %states) = (0, undef);
foreach my $c (@calls)
{
	my ($start, $ok, $state) = @$c;
	if ($ok)
	{
		$longest = $start - $run_start if defined $run_start && $start - $run_start > $longest;
		undef $run_start;
	}
	else
	{
		$states{$state}++;
		$run_start //= $start;
	}
}
$longest = time() - $run_start if defined $run_start && time() - $run_start > $longest;
my $minted_after = grep { $_->[0] > $killed_at && $_->[1] } @calls;
note sprintf('%d calls around the restart, %d minted after it; refusals: %s; longest run of refusals %.2f s',
	scalar(@calls), $minted_after,
	join(', ', map { "$_ x $states{$_}" } sort keys %states) || 'none', $longest);
cmp_ok($minted_after, '>', 0, 'fleet_auto mints again after its lease keeper restarted');
cmp_ok($longest, '<=', 2.0,
	sprintf('no run of refusals lasted longer than the restart (longest %.2f s)', $longest));

is($coord->safe_psql('postgres', $mallory_locks), '1025',
	"mallory's session still holds its 1025 advisory locks");

$mallory->quit;
$auto->stop;
$pinned->stop;
$coord->stop;
done_testing();
