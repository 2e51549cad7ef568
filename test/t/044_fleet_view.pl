# Copyright (c) the snowflake authors
#
# The fleet view on a coordinator: snowflake_fleet lists each server that
# holds worker IDs, with what it holds, its last renewal and that
# renewal's round trip, and its wall clock against the coordinator's and
# against the median of the live holders.  Every renewal reports the
# server's clock, so a server whose clock runs 10 s ahead (libfaketime)
# stands out by 10 s while the others sit near zero.
#
# A coordination table made before the clock report, owned by a superuser
# so that the keepers' role cannot add columns to it: renewals go on
# without the report, and the view shows the holders without a skew.
#
# The view is for pg_monitor: an ordinary role is refused.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use FleetTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;

require_faketime();

my $coord = new_coordinator('coord');
$coord->safe_psql('postgres', 'CREATE EXTENSION snowflake');

# Two servers on the real clock, one 10 s ahead.
my @nodes;
foreach my $name ('fleet_a', 'fleet_b')
{
	my $node = new_fleet_node($name, $coord, conf => "snowflake.worker_slots = 2\n");
	$node->start;
	push @nodes, $node;
}
my $ahead = new_fleet_node('fleet_ahead', $coord, conf => "snowflake.worker_slots = 2\n");
start_faked($ahead, '+10');
push @nodes, $ahead;

ok( poll_until(
		$coord, q{
		SELECT count(*) = 3 AND bool_and(live) AND bool_and(holder_clock IS NOT NULL)
		       AND bool_and(renewal_latency_ms IS NOT NULL)
		FROM snowflake_fleet},
		60),
	'three live holders have renewed with a clock report');

# Let a renewal of the restarted keeper of the fast server land too: its
# clock report then carries the faked clock.
ok( poll_until(
		$coord, q{
		SELECT clock_offset_ms > 9000 FROM snowflake_fleet
		WHERE holder_cluster_name = 'fleet_ahead'},
		30),
	'the server 10 s ahead reports its clock');

my %row;
foreach my $line (
	split /\n/,
	$coord->safe_psql(
		'postgres', q{
		SELECT holder_cluster_name, cardinality(worker_ids), clock_offset_ms,
		       skew_ms, renewal_latency_ms, holder_system_id
		FROM snowflake_fleet ORDER BY holder_cluster_name}))
{
	my ($name, $n, $offset, $skew, $latency, $sysid) = split /\|/, $line;
	$row{$name} = {
		n       => $n,
		offset  => $offset,
		skew    => $skew,
		latency => $latency,
		sysid   => $sysid
	};
}
is_deeply([ sort keys %row ], [qw(fleet_a fleet_ahead fleet_b)],
	'one row per holder');
foreach my $name (qw(fleet_a fleet_b fleet_ahead))
{
	is($row{$name}{n}, 2, "$name holds its two worker IDs");
	cmp_ok($row{$name}{latency}, '>=', 0, "$name: renewal latency reported");
	cmp_ok($row{$name}{latency}, '<', 5000, "$name: renewal latency is a round trip");
}
foreach my $name (qw(fleet_a fleet_b))
{
	cmp_ok(abs($row{$name}{offset}), '<', 1000, "$name: clock within 1 s of the coordinator's");
	cmp_ok(abs($row{$name}{skew}), '<', 1000, "$name: skew against the median within 1 s");
}
cmp_ok($row{fleet_ahead}{offset}, '>', 9000, 'the fast server: clock offset about +10 s');
cmp_ok($row{fleet_ahead}{offset}, '<', 11000, 'the fast server: clock offset about +10 s (upper)');
cmp_ok($row{fleet_ahead}{skew}, '>', 9000, 'the fast server: skew against the median about +10 s');
is( $coord->safe_psql(
		'postgres', q{
		SELECT count(DISTINCT w) = count(*) FROM snowflake_fleet, unnest(worker_ids) w}),
	't', 'no worker ID is listed under two holders');

# Status on each server: its last renewal, and its latency.
foreach my $node (@nodes)
{
	$node->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS snowflake');
	is( $node->safe_psql(
			'postgres', q{
			SELECT bool_and(last_renewal_at IS NOT NULL AND renewal_latency_ms >= 0
			                AND fencing_left_ms > 0)
			FROM snowflake_status}),
		't', $node->name . ': status shows the last renewal, its latency and the time left');
}

# Only pg_monitor (and superusers) read the fleet view.
$coord->safe_psql('postgres', 'CREATE ROLE mallory LOGIN; CREATE ROLE watcher LOGIN IN ROLE pg_monitor');
my $r = try_sql_as($coord, 'mallory', 'SELECT count(*) FROM snowflake_fleet');
is($r->{sqlstate}, '42501', 'an ordinary role may not read the fleet view');
$r = try_sql_as($coord, 'watcher', 'SELECT count(*) FROM snowflake_fleet');
is($r->{out}, '3', 'a pg_monitor member reads the fleet view');

# A coordination table from before the clock report, which the keepers'
# role may use but not alter: renewals go on, without the report.
$coord->safe_psql('postgres', 'CREATE DATABASE legacy');
$coord->safe_psql(
	'legacy', q{
	CREATE EXTENSION snowflake;
	CREATE SCHEMA snowflake_state;
	CREATE TABLE snowflake_state.worker_lease (
		worker_id int4 PRIMARY KEY CHECK (worker_id >= 0),
		holder_system_id text NOT NULL, holder_host text NOT NULL,
		holder_port int4 NOT NULL, holder_cluster_name text NOT NULL,
		holder_pid int4 NOT NULL, acquired_at timestamptz NOT NULL,
		renewed_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
		fencing_token int8 NOT NULL, last_minted_at timestamptz,
		minting_until timestamptz, released_at timestamptz);
	GRANT USAGE ON SCHEMA snowflake_state TO snowflake_fleet;
	GRANT SELECT, INSERT, UPDATE ON snowflake_state.worker_lease TO snowflake_fleet;});
my $legacy = new_node(
	'fleet_legacy',
	conf => sprintf(
		"snowflake.coordinator = 'host=%s port=%d dbname=legacy user=snowflake_fleet'\n"
		  . "cluster_name = 'fleet_legacy'\nsnowflake.worker_slots = 1\n"
		  . join('', map { "$_ = '$FleetTest::FAST_LEASES{$_}'\n" } sort keys %FleetTest::FAST_LEASES),
		$coord->host, $coord->port));
$legacy->start;
$legacy->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($legacy)->{ok}, 'a server minting under a table without the clock report');
my $renewed = $coord->safe_psql('legacy', 'SELECT max(renewed_at) FROM snowflake_state.worker_lease');
ok( $coord->poll_query_until('legacy',
		"SELECT max(renewed_at) > '$renewed' FROM snowflake_state.worker_lease"),
	'its leases are renewed');
is( $coord->safe_psql(
		'legacy', q{
		SELECT count(*) FROM pg_attribute
		WHERE attrelid = 'snowflake_state.worker_lease'::regclass AND attname = 'holder_clock'}),
	'0', 'the table the keeper may not alter is left as it was');
is( $coord->safe_psql(
		'legacy', q{
		SELECT holder_cluster_name || ':' || live || ':' || cardinality(worker_ids)
		       || ':' || (clock_offset_ms IS NULL)
		FROM snowflake_fleet}),
	'fleet_legacy:true:1:true', 'the fleet view lists its holder, without a skew');

$_->stop foreach (@nodes, $legacy);
$coord->stop;
done_testing();
