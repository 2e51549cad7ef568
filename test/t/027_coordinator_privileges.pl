
# Copyright (c) the snowflake authors
#
# The privileges a coordinator's role needs, as docs/fleet.md states them.
#
# - A role that owns schema snowflake_state (and nothing else) is enough:
#   the first server creates the coordination table in it.
# - Once the table exists, a role with only USAGE on the schema and SELECT,
#   INSERT, UPDATE on the table is enough to lease and mint.
# - A role with no privilege there leases nothing: minting refuses with
#   SF002, and the detail says why (permission denied).
# - Ordinary roles of the coordinator can neither read nor write leases.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;

my $coord = new_coordinator('priv_coord');

# 1. The owner of the schema: the table is created on first use.
my $owner_node = new_fleet_node('priv_owner', $coord,
	conf => "snowflake.worker_slots = 2\n");
$owner_node->start;
$owner_node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $m = wait_for_mint($owner_node, timeout => 30);
ok($m->{ok}, 'a server whose coordinator role owns schema snowflake_state mints');
is( $coord->safe_psql('postgres',
		"SELECT tableowner FROM pg_tables
		  WHERE schemaname = 'snowflake_state' AND tablename = 'worker_lease'"),
	'snowflake_fleet',
	'it created the coordination table, owned by the fleet role');
$owner_node->stop;

# 2. Table and schema handed to a superuser; the fleet uses a role with
#    USAGE and SELECT, INSERT, UPDATE only.
$coord->safe_psql(
	'postgres', q{
	ALTER TABLE snowflake_state.worker_lease OWNER TO CURRENT_USER;
	ALTER SCHEMA snowflake_state OWNER TO CURRENT_USER;
	CREATE ROLE snowflake_minimal LOGIN;
	GRANT USAGE ON SCHEMA snowflake_state TO snowflake_minimal;
	GRANT SELECT, INSERT, UPDATE ON snowflake_state.worker_lease TO snowflake_minimal;
	CREATE ROLE snowflake_nobody LOGIN;
});

my $conninfo_for = sub {
	my ($role) = @_;
	my $c = coordinator_conninfo($coord);
	$c =~ s/user=snowflake_fleet/user=$role/;
	return $c;
};

my $minimal = new_fleet_node('priv_minimal', $coord,
	conf => "snowflake.worker_slots = 2\n"
	  . "snowflake.coordinator = '" . $conninfo_for->('snowflake_minimal') . "'\n");
$minimal->start;
$minimal->safe_psql('postgres', 'CREATE EXTENSION snowflake');
$m = wait_for_mint($minimal, timeout => 30);
ok($m->{ok}, 'a role with USAGE and SELECT, INSERT, UPDATE only leases and mints')
  or diag explain $m;
is( $coord->safe_psql('postgres',
		"SELECT count(*) FROM snowflake_state.worker_lease
		  WHERE holder_cluster_name = 'priv_minimal' AND released_at IS NULL"),
	'2',
	'its two leases are on the coordinator');

# 3. A role with no privilege on snowflake_state leases nothing.
my $nobody = new_fleet_node('priv_nobody', $coord,
	conf => "snowflake.worker_slots = 2\n"
	  . "snowflake.coordinator = '" . $conninfo_for->('snowflake_nobody') . "'\n");
$nobody->start;
$nobody->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $r = try_sql($nobody, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF002', 'a role without privileges: minting refuses with SF002');
like($r->{err}, qr/no worker ID is leased to this server/, 'the message says no worker ID is leased');
like($r->{err}, qr/permission denied/, 'the detail gives the coordinator\'s error');
is( $nobody->safe_psql('postgres',
		"SELECT string_agg(DISTINCT lease_state, ',') FROM snowflake_status"),
	'none',
	'its slots show lease_state none');

# 4. Ordinary roles of the coordinator cannot touch leases.
$coord->safe_psql('postgres', 'CREATE ROLE regress_ordinary LOGIN');
foreach my $sql (
	'SELECT count(*) FROM snowflake_state.worker_lease',
	'UPDATE snowflake_state.worker_lease SET expires_at = now()',
	'DELETE FROM snowflake_state.worker_lease')
{
	my ($ret, $out, $err) = $coord->psql('postgres', $sql,
		extra_params => [ '-U', 'regress_ordinary' ]);
	isnt($ret, 0, "an ordinary role is refused: $sql");
	like($err, qr/permission denied/, "... with permission denied: $sql");
}

$nobody->stop;
$minimal->stop;
$coord->stop;

done_testing();
