
# Copyright (c) the snowflake authors
#
# A coordinator that stalls costs a retry, not the leases.  Server S leases
# two worker IDs (snowflake.worker_id = -1) with leases long enough for an
# 8 s stall to fit in the fencing margin (TTL 40 s, renewal every 2 s,
# margin 15 s).  The coordinator backend that serves S's lease keeper is
# stopped (SIGSTOP) for 8 s or more: longer than the keeper's 5 s limit on a
# statement, so the keeper gives that session up and opens a new one while
# the stopped session still holds the advisory locks of S's worker IDs.
# Once the keeper has renewed through its new session (or given a lease
# up), the stopped backend is resumed (SIGCONT).
#
# Minting on S goes on in a loop from before the stop until 5 s after the
# resume.  Asserted: S never refused; S holds the same worker IDs
# afterwards; its log has no "lost the lease"; the coordinator's rows of
# those worker IDs still name S as holder, with the same fencing tokens,
# unreleased, and were renewed after the stall.

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

# The stopped coordinator backend; resumed whatever happens, before the
# framework stops the servers (this END block runs before Cluster.pm's).
my $stalled;
END { kill('CONT', $stalled) if $stalled; }

my $coord  = new_coordinator('coordinator');
my $server = new_fleet_node(
	'stall_server', $coord,
	conf   => "snowflake.worker_slots = 2\nsnowflake.worker_id = -1\n",
	leases => {
		'snowflake.lease_ttl'            => '40s',
		'snowflake.lease_renew_interval' => '2s',
		'snowflake.fencing_margin'       => '15s',
	});
$server->start;
$server->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($server, timeout => 30);
ok($w->{ok}, 'S mints');
ok( poll_until(
		$server, "SELECT bool_and(lease_state = 'held') FROM snowflake_status", 10),
	'both slots of S hold a lease');
my $slots_before = slot_states($server);
my $rows_sql = "SELECT string_agg(worker_id || '|' || holder_cluster_name || '|'
	    || fencing_token || '|' || (released_at IS NOT NULL), ',' ORDER BY worker_id)
	  FROM snowflake_state.worker_lease WHERE released_at IS NULL";
my $rows_before = $coord->safe_psql('postgres', $rows_sql);
note "S's slots: $slots_before; coordinator rows: $rows_before";
my @ids = map { (split /:/)[0] } split /,/, $slots_before;
my $id_list = join(',', @ids);

my $keeper_session = "SELECT pid FROM pg_stat_activity
	WHERE application_name = 'snowflake lease keeper'";
my $session = $coord->safe_psql('postgres', $keeper_session);
like($session, qr/^\d+$/, "one coordinator backend serves S's lease keeper (PID $session)");

# Minting on S in a loop: every call is recorded.
my @calls;    # [time, minted, sqlstate, error]

sub mint_once
{
	my $r = try_sql($server, 'SELECT snowflake_nextval()');
	push @calls, [ time(), $r->{ret} == 0, $r->{sqlstate} // "exit $r->{ret}", $r->{err} ];
	return;
}

# Mint until $cond returns true, at most $timeout seconds.
sub mint_until
{
	my ($cond, $timeout) = @_;
	my $until = time() + $timeout;
	while (1)
	{
		return 1 if $cond->();
		return 0 if time() > $until;
		mint_once();
	}
}

mint_once() for 1 .. 5;

# Stop the backend while it is idle (between two statements of the keeper).
my $log_offset = -s $server->logfile;
my $stopped_at;
foreach my $attempt (1 .. 50)
{
	kill('STOP', $session) or die "could not stop $session: $!";
	$stalled    = $session;
	$stopped_at = time();
	last
	  if $coord->safe_psql('postgres',
		"SELECT state FROM pg_stat_activity WHERE pid = $session") eq 'idle';
	kill('CONT', $session);
	undef $stalled;
	usleep(20_000);
}
ok($stalled, "the coordinator backend of S's lease keeper is stopped while idle");

# The keeper gives the stopped session up after 5 s and opens a new one.
my $new_start;
ok( mint_until(
		sub {
			$new_start = $coord->safe_psql('postgres',
				"SELECT backend_start FROM pg_stat_activity
				  WHERE application_name = 'snowflake lease keeper' AND pid <> $session");
			return $new_start ne '';
		},
		15),
	"S's lease keeper opened a new coordinator session while the old one is stopped");
note sprintf('new session %.1f s after the stop', time() - $stopped_at);

# Wait until the keeper has renewed through it, or given a lease up.
my $decided = mint_until(
	sub {
		return 1 if slurp_file($server->logfile, $log_offset) =~ /lost the lease/;
		return $server->safe_psql(
			'postgres', "SELECT bool_and(fencing_deadline
				> '$new_start'::timestamptz + interval '20 seconds') FROM snowflake_status") eq 't';
	},
	5);
ok($decided, "S's lease keeper renewed through its new session, or gave a lease up");
note 'after the new session: ' . slot_states($server);

# At least 8 s of stall, then resume it.
mint_until(sub { time() >= $stopped_at + 8 }, 10);
kill('CONT', $session);
undef $stalled;
my $resumed_at = time();
my $resume_ts  = $coord->safe_psql('postgres', 'SELECT now()');
note sprintf('the coordinator backend was stopped for %.1f s', $resumed_at - $stopped_at);

mint_until(sub { time() >= $resumed_at + 5 }, 10);

# What the loop saw.
my %states;
my @refused = grep { !$_->[1] } @calls;
$states{ $_->[2] }++ foreach @refused;
note sprintf('%d calls to snowflake_nextval() on S, %d refused: %s',
	scalar(@calls), scalar(@refused),
	join(', ', map { "$_ x $states{$_}" } sort keys %states) || 'none');
is(scalar(@refused), 0, 'S never refused to mint')
  or diag "first refusal:\n$refused[0][3]";
is(slot_states($server), $slots_before, "S holds the same worker IDs ($slots_before)");
my $log = slurp_file($server->logfile, $log_offset);
my @lost = $log =~ /^.*snowflake: lost the lease.*$/mg;
is(scalar(@lost), 0, "S's log has no 'lost the lease'")
  or diag join("\n", @lost);
is( $coord->safe_psql(
		'postgres', "SELECT string_agg(worker_id || '|' || holder_cluster_name || '|'
		    || fencing_token || '|' || (released_at IS NOT NULL), ',' ORDER BY worker_id)
		  FROM snowflake_state.worker_lease WHERE worker_id IN ($id_list)"),
	$rows_before,
	"the coordinator's rows of $id_list still name S, with the same fencing tokens");
is( $coord->safe_psql(
		'postgres', "SELECT bool_and(renewed_at > '$resume_ts'::timestamptz + interval '1 second')
		  FROM snowflake_state.worker_lease WHERE worker_id IN ($id_list)"),
	't',
	"S renewed them after the stall");

$server->stop;
$coord->stop;
done_testing();
