
# Copyright (c) the snowflake authors
#
# Quiet when idle (docs/idle.md).  Two servers mint once and then idle past
# snowflake.idle_after (3 s here): one with the embedded coordinator, one
# leasing from a fleet coordinator.  Over the next minute, spent once for
# both, neither writes WAL (pg_current_wal_lsn does not move; this test's
# own sessions only read), the guard and the lease keeper wake at most
# about once a second, and the guard still sees, logs and counts a 2 ms
# step of the wall clock back and one forward.  Then:
# - a standby of the embedded server, promoted while its primary idles,
#   mints above every ID the primary minted;
# - the first mint after the idle minute returns within 50 ms on both, is
#   counted in snowflake_status.idle_resumes, and the embedded server's
#   leases are held again;
# - with its lease keeper stopped (SIGSTOP), an idle embedded server refuses
#   to mint (SF003) rather than mint under a lapsed lease.

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

# Autovacuum is off: on a fresh cluster it analyzes template1 and vacuums
# the catalogs on its own schedule, which is PostgreSQL's WAL, not the
# extension's (docs/idle.md).
my $IDLE = "snowflake.idle_after = '3s'\nautovacuum = off\n";
my $leases = join('', map { "$_ = '$FleetTest::FAST_LEASES{$_}'\n" }
	  sort keys %FleetTest::FAST_LEASES);

# Embedded, with a streaming standby; both on the real clock.
my $primary = new_node('idle_embedded',
	init => { allows_streaming => 1 },
	conf => $IDLE . $leases);
$primary->start;
setup_ids($primary);

# A fleet node, its clock 30 s ahead under libfaketime so that the test can
# step it.
my $coord = new_coordinator('idle_coordinator');
my $fleet = new_fleet_node('idle_fleet', $coord,
	conf   => $IDLE,
	leases => {
		'snowflake.lease_ttl'            => '30s',
		'snowflake.lease_renew_interval' => '10s',
		'snowflake.fencing_margin'       => '5s'
	});
start_faked($fleet, '+30');
$fleet->safe_psql('postgres', 'CREATE EXTENSION snowflake');

my %minted;
$minted{$_->name} = wait_for_mint($_) for ($primary, $fleet);
ok($minted{$_->name}->{ok}, $_->name . ' mints') for ($primary, $fleet);
# the only ID the primary minted
my $primary_max = $minted{ $primary->name }->{id};

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('idle_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# Freeze (which sets every hint bit a later read would otherwise set and
# log) and checkpoint.  The next standby snapshot after the checkpoint comes
# within 15 s; the minute starts later.
foreach my $node ($primary, $fleet)
{
	$node->safe_psql('postgres', 'VACUUM (FREEZE)');
	$node->safe_psql('postgres', 'CHECKPOINT');
}
my $checkpointed = time();

# Idle: the embedded server's leases lapse (shown as idle, past their
# fencing deadlines); the fleet node's stay held, renewed on the coordinator.
ok( poll_until(
		$primary, q{
		SELECT bool_and(lease_state = 'idle'
		                AND fencing_deadline < clock_timestamp())
		FROM snowflake_status}, 60),
	'the embedded server\'s leases lapse while it idles (lease_state idle)');
usleep(4_000_000);    # past the fleet node's idle_after, too
usleep(int((17 - (time() - $checkpointed)) * 1_000_000))
  if time() - $checkpointed < 17;
is($fleet->safe_psql('postgres',
		"SELECT string_agg(DISTINCT lease_state, ',') FROM snowflake_status"),
	'held', 'the fleet node\'s leases stay held (renewed on the coordinator)');

sub lsn
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
}

sub switches
{
	my ($pid) = @_;
	my $status = slurp_file("/proc/$pid/status");
	my $n = 0;
	$n += $1 while $status =~ /ctxt_switches:\s+(\d+)/g;
	return $n;
}

my %lsn0 = map { $_->name => lsn($_) } ($primary, $fleet);
my %pids;
foreach my $node ($primary, $fleet)
{
	foreach my $type ('snowflake guard', 'snowflake lease keeper')
	{
		my $pid = worker_pid($node, $type);
		$pids{ $node->name . " $type" } = [ $pid, switches($pid) ];
	}
}
my $t0 = time();
my $log_offset = -s $fleet->logfile;
my $steps_back = status_value($fleet, 'max(clock_regressions)');
my $steps_fwd = status_value($fleet, 'max(clock_steps_forward)');

# Mid-minute, the fleet node's clock steps back 2 ms, and 5 s later forward
# 2 ms.
usleep(20_000_000);
set_clock($fleet, '+29.998');
usleep(5_000_000);
set_clock($fleet, '+30');
usleep(int((60 - (time() - $t0)) * 1_000_000)) if time() - $t0 < 60;

my $seconds = time() - $t0;
foreach my $node ($primary, $fleet)
{
	my $lsn = lsn($node);
	is($lsn, $lsn0{ $node->name },
		$node->name . sprintf(' writes no WAL over %.0f s of idling', $seconds))
	  or diag $node->name . ': '
	  . $node->safe_psql('postgres',
		"SELECT pg_wal_lsn_diff('$lsn', '$lsn0{ $node->name }')")
	  . ' bytes of WAL';
}
foreach my $key (sort keys %pids)
{
	my ($pid, $before) = @{ $pids{$key} };
	my $rate = (switches($pid) - $before) / $seconds;
	note sprintf('%s: %.2f wakeups per second while idle', $key, $rate);
	cmp_ok($rate, '<', 2, "$key wakes less than twice a second while idle");
}

ok( poll_until(
		$fleet,
		"SELECT max(clock_regressions) > $steps_back
		    AND max(clock_steps_forward) > $steps_fwd FROM snowflake_status",
		10),
	'the guard counted the 2 ms steps back and forward while idle');
my $log = slurp_file($fleet->logfile, $log_offset);
# The guard measures a step as the wall clock's movement less the monotonic
# clock's between two ticks; the two clocks are read one after the other, so
# a guard descheduled between the readings measures the 2 ms step a little
# off either way (1.932 ms has been seen).  The logged size must be the
# step's to within 1 ms.
foreach my $dir ('back', 'forward')
{
	my ($ms) = $log =~ /the wall clock stepped $dir by (\d+\.\d{3}) ms/;
	ok(defined $ms && $ms >= 1 && $ms <= 3,
		"the guard logged the 2 ms step $dir, measured to within 1 ms")
	  or diag 'logged: ' . ($ms // 'nothing');
}

# A standby promoted while its primary idles mints above all the primary
# minted.
$primary->wait_for_catchup($standby);
$standby->promote;
my $r = wait_for_mint($standby, timeout => 30);
ok($r->{ok}, 'the promoted standby mints');
cmp_ok($r->{id}, '>', $primary_max,
	'the promoted standby mints above every ID its idle primary minted');

# The first mint after the idle minute, timed in the server.
foreach my $node ($primary, $fleet)
{
	my $resumes = status_value($node, 'max(idle_resumes)');
	my $out = $node->safe_psql('postgres', q{
		SELECT id, round(extract(epoch FROM t1 - t0)::numeric * 1000, 2)
		  FROM (SELECT clock_timestamp() AS t0, snowflake_nextval() AS id,
		               clock_timestamp() AS t1 OFFSET 0) s});
	my ($id, $ms) = split /\|/, $out;
	note $node->name . ": first ID after idling in $ms ms";
	cmp_ok($ms, '<', 50, $node->name . ' mints the first ID after idling within 50 ms');
	cmp_ok($id, '>', $minted{ $node->name }->{id}, $node->name . ' mints above its earlier IDs');
	is(status_value($node, 'max(idle_resumes)'), $resumes + 1,
		$node->name . ' counts the resumption (idle_resumes)');
}
is($primary->safe_psql('postgres',
		"SELECT string_agg(DISTINCT lease_state, ',') FROM snowflake_status"),
	'held', 'the embedded server renewed its leases to mint');

# A lease keeper that is stopped renews nothing: once the embedded server
# has idled again, a mint asks for the renewal, waits a second and refuses
# (SF003, saying the lease lapsed while the server was idle); the keeper,
# resumed, renews on the request of the next mint.
ok( poll_until(
		$primary, q{
		SELECT bool_and(lease_state = 'idle'
		                AND fencing_deadline < clock_timestamp())
		FROM snowflake_status}, 30),
	'the embedded server idles again');
my $keeper = keeper_pid($primary);
kill('STOP', $keeper);
push @frozen, $keeper;
$r = try_sql($primary, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF003', 'with its lease keeper stopped, an idle server refuses to mint (SF003)');
like($r->{err}, qr/lapsed while the server was idle/,
	'the refusal says the lease lapsed while the server was idle');
thaw();
$r = try_sql($primary, 'SELECT snowflake_nextval()');
is($r->{ret}, 0, 'the resumed lease keeper renews for the next mint')
  or diag $r->{err};

$_->stop for ($standby, $primary, $fleet, $coord);
done_testing();
