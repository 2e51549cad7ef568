
# Copyright (c) the snowflake authors
#
# The coordinator fails over under three minting servers, without Patroni: a
# primary with one synchronous streaming standby, and minting servers that
# name both in one multi-host connection string (docs/fleet.md, "An HA
# coordinator").
#
# (a) The standby is listed first and the string does not say
#     target_session_attrs, or says target_session_attrs=any: the lease
#     keeper must not settle on the standby (where every lease statement
#     fails as read-only) but lease from the primary.
# (b) The primary stalls (SIGSTOP of every process: connections to it hang
#     instead of being refused, as with a host that went off the network)
#     and the standby is promoted.  A keeper that lists the stalled primary
#     first must still reach the promoted standby, take its advisory locks
#     again and renew every lease it holds with its fencing token: same
#     worker IDs, same tokens, no lease lost, and minting resumes by itself.
#
# No ID is minted twice across the servers.  The refusal window of each
# server is printed.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $SLOTS = 2;
# TTL 20 s, margin 5 s: a slot mints until 15 s after its last renewal was
# sent.  A renewal that hangs is dropped after 5 s, and a connection attempt
# to a host that hangs after 5 s, so a keeper that tries the stalled host
# once, then the promoted standby, renews within the fencing window.
my %LEASES = (
	'snowflake.lease_ttl'            => '20s',
	'snowflake.lease_renew_interval' => '2s',
	'snowflake.fencing_margin'       => '5s',);

# The coordinator: a primary and a synchronous standby.
my $primary = PostgreSQL::Test::Cluster->new('coord_primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres',
	"CREATE ROLE snowflake_fleet LOGIN;
	 CREATE SCHEMA snowflake_state AUTHORIZATION snowflake_fleet;");
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('coord_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->append_conf('postgresql.conf',
	"synchronous_standby_names = 'coord_standby'\n");
$primary->reload;
ok( poll_until(
		$primary,
		"SELECT sync_state = 'sync' FROM pg_stat_replication
		  WHERE application_name = 'coord_standby'"),
	'the coordinator standby is synchronous');

my $h = $primary->host;
my ($pp, $sp) = ($primary->port, $standby->port);
my %conninfo = (
	# the standby first, and any session will do: the keeper finds it
	# read-only when it tries to lease, and must look further
	fo_any => "host=$h,$h port=$sp,$pp dbname=postgres user=snowflake_fleet target_session_attrs=any",
	# the standby first, no target_session_attrs
	fo_standby_first => "host=$h,$h port=$sp,$pp dbname=postgres user=snowflake_fleet",
	# the primary first
	fo_primary_first => "host=$h,$h port=$pp,$sp dbname=postgres user=snowflake_fleet",
);
my @names = sort keys %conninfo;
my %node;
foreach my $name (@names)
{
	$node{$name} = new_fleet_node(
		$name, $primary,
		leases => \%LEASES,
		conf   => "snowflake.worker_slots = $SLOTS\n"
		  . "snowflake.coordinator = '$conninfo{$name}'\n");
	$node{$name}->start;
	setup_ids($node{$name});
	$node{$name}->safe_psql(
		'postgres', q{
		CREATE TABLE refused (at timestamptz NOT NULL, state text NOT NULL);
		CREATE TABLE stop (at timestamptz);
		-- mint until a row is in table stop, or for "seconds"; log refusals
		CREATE PROCEDURE mint_logged(seconds float8, run_no integer)
		LANGUAGE plpgsql AS $$
		DECLARE
			t0 timestamptz := clock_timestamp();
			st text;
		BEGIN
			LOOP
				BEGIN
					INSERT INTO ids (run, client, id)
						VALUES (run_no, 0, snowflake_nextval());
				EXCEPTION WHEN OTHERS THEN
					GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
					INSERT INTO refused VALUES (clock_timestamp(), st);
					PERFORM pg_sleep(0.01);
				END;
				COMMIT;
				PERFORM pg_sleep(0.001);	-- a steady load, not all of the CPU
				EXIT WHEN clock_timestamp() - t0 >= make_interval(secs => seconds)
					OR EXISTS (SELECT FROM stop);
			END LOOP;
		END $$;
	});
}

############################################################################
# (a) The standby listed first.
############################################################################

foreach my $name (@names)
{
	my $r = wait_for_mint($node{$name}, timeout => 30);
	ok($r->{ok}, "$name mints (the keeper leases from the primary)")
	  or diag "errors: @{$r->{errors}}";
	ok( poll_until(
			$node{$name},
			"SELECT count(*) FILTER (WHERE lease_state = 'held') = $SLOTS FROM snowflake_status",
			30),
		"$name holds a lease on each slot");
}

my $rows_sql = q{
	SELECT string_agg(worker_id || ':' || holder_cluster_name || ':' || fencing_token, ','
	                  ORDER BY worker_id)
	  FROM snowflake_state.worker_lease WHERE released_at IS NULL};
my $before = $primary->safe_psql('postgres', $rows_sql);
note "leases before the failover: $before";
is(scalar(split /,/, $before), @names * $SLOTS, 'the coordinator has a live lease for every slot');

############################################################################
# (b) The primary stalls; the standby is promoted.
############################################################################

my %loops = map {
	$_ => IPC::Run::start(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node{$_}->connstr('postgres'),
			'-c', 'CALL mint_logged(120, 1)'
		],
		'<', \undef, '>', \my $out, '2>', \my $err,
		IPC::Run::timeout(180))
} @names;
# let every server mint a while first
foreach my $name (@names)
{
	ok(poll_until($node{$name}, 'SELECT count(*) > 100 FROM ids', 30),
		"$name mints under load");
}

my $ppid = FleetTest::postmaster_pid($primary);
my @stalled = ($ppid, children_of($ppid));
my $stalled_at = time();
kill('STOP', @stalled);
note "stalled the coordinator primary: PIDs @stalled";
$standby->promote;
my $promoted_at = time();
my $promoted_ts = $standby->safe_psql('postgres', 'SELECT now()');
note sprintf("standby promoted %.1f s after the stall", $promoted_at - $stalled_at);

foreach my $name (@names)
{
	ok( poll_until(
			$standby,
			"SELECT count(*) = $SLOTS FROM snowflake_state.worker_lease
			  WHERE holder_cluster_name = '$name'
			    AND renewed_at > '$promoted_ts'",
			40),
		"$name renews its leases on the promoted standby");
}
my $after = $standby->safe_psql('postgres', $rows_sql);
note "leases after the failover: $after";
is($after, $before, 'same worker IDs, same holders, same fencing tokens');

foreach my $name (@names)
{
	ok( poll_until(
			$node{$name},
			"SELECT count(*) FILTER (WHERE lease_state = 'held') = $SLOTS FROM snowflake_status",
			30),
		"$name holds its leases again");
	my $log = slurp_file($node{$name}->logfile);
	unlike($log, qr/lost the lease/, "$name lost no lease");
	ok( poll_until(
			$standby,
			"SELECT count(*) = $SLOTS FROM pg_locks l
			   JOIN pg_stat_activity a USING (pid)
			  WHERE l.locktype = 'advisory' AND l.classid = 1397641047 AND l.granted
			    AND a.application_name = 'snowflake lease keeper'
			    AND l.objid::int IN (SELECT worker_id FROM snowflake_state.worker_lease
			                          WHERE holder_cluster_name = '$name')"),
		"$name holds the advisory locks of its leases on the promoted standby");
}

# a little more minting on the new coordinator, then stop
foreach my $name (@names)
{
	my $n = $node{$name}->safe_psql('postgres', 'SELECT count(*) FROM ids');
	ok(poll_until($node{$name}, "SELECT count(*) > $n + 100 FROM ids", 30),
		"$name mints on the promoted coordinator");
	$node{$name}->safe_psql('postgres', 'INSERT INTO stop VALUES (now())');
}
foreach my $name (@names)
{
	eval { $loops{$name}->finish; 1 } or $loops{$name}->kill_kill;
	is($loops{$name}->result(0), 0, "$name: the minting session ran to its end");
	my ($first, $last, $n, $states) = split /\|/,
	  $node{$name}->safe_psql(
		'postgres',
		"SELECT coalesce(extract(epoch FROM min(at))::text, ''),
		        coalesce(extract(epoch FROM max(at))::text, ''), count(*),
		        coalesce(string_agg(DISTINCT state, ','), '')
		   FROM refused WHERE at > to_timestamp($stalled_at)");
	if ($n > 0)
	{
		note sprintf(
			"%s: refused %d calls (%s) from %.1f s to %.1f s after the stall: a window of %.1f s",
			$name, $n, $states, $first - $stalled_at, $last - $stalled_at,
			$last - $first);
		is($states, 'SF003', "$name refused only past its fencing deadline (SF003)");
	}
	else
	{
		note "$name: no refusal through the failover";
	}
	check_ids($node{$name}, $name);
}

# No ID twice across the fleet.
my %seen;
my $dups  = 0;
my $total = 0;
foreach my $name (@names)
{
	foreach my $id (split /\n/, $node{$name}->safe_psql('postgres', 'SELECT id FROM ids'))
	{
		$total++;
		$dups++ if $seen{$id}++;
	}
}
note "IDs checked across the fleet: $total";
is($dups, 0, 'no ID was minted by two servers');

# The stalled primary would come back as a second primary: end it.
kill('KILL', @stalled);
$primary->{_pid} = undef;

$node{$_}->stop foreach @names;
$standby->stop;
done_testing();
