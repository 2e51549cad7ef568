
# Copyright (c) the snowflake authors
#
# Helpers shared by the lease and fleet TAP tests (test/t/02*_*.pl): a
# coordinator node set up the way docs/fleet.md tells operators to, minting
# nodes pointed at it with short lease timings, and reading the lease state
# of a node.

package FleetTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  new_coordinator
  coordinator_conninfo
  new_fleet_node
  lease_rows
  slot_states
  postmaster_pid
  fake_keeper
);

# Short lease timings for tests: TTL 6 s, renewal every 1 s, margin 2 s, so a
# slot's fencing deadline is 4 s after its last renewal was sent, and an
# outage of the coordinator shorter than the margin costs nothing.
our %FAST_LEASES = (
	'snowflake.lease_ttl'            => '6s',
	'snowflake.lease_renew_interval' => '1s',
	'snowflake.fencing_margin'       => '2s',);

# A plain server (no snowflake library) set up as a coordinator: the role
# snowflake_fleet owns schema snowflake_state, nothing more.
sub new_coordinator
{
	my ($name) = @_;
	my $coord = PostgreSQL::Test::Cluster->new($name);
	$coord->init;
	$coord->start;
	$coord->safe_psql('postgres',
		"CREATE ROLE snowflake_fleet LOGIN;
		 CREATE SCHEMA snowflake_state AUTHORIZATION snowflake_fleet;");
	return $coord;
}

sub coordinator_conninfo
{
	my ($coord) = @_;
	return sprintf("host=%s port=%d dbname=postgres user=snowflake_fleet",
		$coord->host, $coord->port);
}

# A node that preloads snowflake and leases from $coord (not started).
# %opts: conf => extra postgresql.conf lines, leases => hash overriding
# %FAST_LEASES, init => {...} for $node->init.
sub new_fleet_node
{
	my ($name, $coord, %opts) = @_;
	my %leases = (%FAST_LEASES, %{ $opts{leases} // {} });
	my $conf = sprintf("snowflake.coordinator = '%s'\ncluster_name = '%s'\n",
		coordinator_conninfo($coord), $name);
	$conf .= "$_ = '$leases{$_}'\n" foreach sort keys %leases;
	return new_node($name, init => $opts{init}, conf => $conf . ($opts{conf} // ''));
}

# Rows of the coordination table on $coord as "worker_id|holder_cluster_name|fencing_token|released"
# lines, ordered by worker ID.
sub lease_rows
{
	my ($coord) = @_;
	return $coord->safe_psql('postgres',
		"SELECT worker_id, holder_cluster_name, fencing_token, released_at IS NOT NULL
		   FROM snowflake_state.worker_lease ORDER BY worker_id");
}

# "worker_id:lease_state" of every slot of $node, comma separated, in slot order.
sub slot_states
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(coalesce(worker_id::text, '-') || ':' || lease_state, ',' ORDER BY slot)
		   FROM snowflake_status");
}

# PID of the postmaster of $node (the holder_pid of its leases), from
# postmaster.pid.
sub postmaster_pid
{
	my ($node) = @_;
	my $file = $node->data_dir . '/postmaster.pid';
	open(my $fh, '<', $file) or die "could not read $file: $!";
	my $pid = <$fh>;
	close($fh);
	chomp $pid;
	return $pid;
}

# Stop the lease keeper of $node (SIGTERM: it releases its leases first) and
# let the postmaster start a new one, which should follow the faked clock
# (see fake_guard in SnowflakeTest.pm); $check->($since), where $since is
# the coordinator's time before the restart, says whether it does.  Tries
# three times; returns whether the check passed.
sub fake_keeper
{
	my ($node, $coord, $check) = @_;
	foreach my $attempt (1 .. 3)
	{
		my $old = '';
		my $deadline = time() + 30;
		while (($old = keeper_pid($node)) eq '' && time() < $deadline)
		{
			usleep(100_000);
		}
		die "no snowflake lease keeper on node " . $node->name if $old eq '';
		my $since = $coord->safe_psql('postgres', 'SELECT now()');
		kill('TERM', $old);
		poll_until(
			$node, qq{
			SELECT count(*) = 1 FROM pg_stat_activity
			WHERE backend_type = 'snowflake lease keeper' AND pid <> $old},
			30)
		  or die "the snowflake lease keeper of " . $node->name . " did not come back";
		return 1 if $check->($since);
		note "lease keeper of node " . $node->name
		  . " runs on the real clock, restarting it again";
	}
	return 0;
}

1;
