# Copyright (c) the snowflake authors
#
# Snowflake columns survive pg_dump/pg_restore into a new cluster and
# pg_upgrade, and the new cluster mints above every ID minted before even
# with its clock an hour behind the clock the old cluster minted with
# (libfaketime: the old cluster runs 2 h ahead of the real clock, the new
# ones 1 h ahead; with a correct clock "above" would be trivially true).
#
# - pg_dump of an application database carries its IDs but nothing of the
#   old server's durable state (that lives in snowflake.database).  The one
#   step after the restore, snowflake_restore_floor() as superuser, raises
#   the new server's floor above every ID in the database's snowflake
#   columns and makes it durable: minting refuses (SF001) until the clock
#   passes it, also after a restart, and then mints above.
# - pg_upgrade carries the whole state (high-water mark, lease table with
#   its floors).  No snowflake worker runs while pg_upgrade has a cluster in
#   binary-upgrade mode (they used to connect to database postgres, which
#   made pg_upgrade fail, and to lease worker IDs in the old cluster).  The
#   upgraded server resumes only above the old mark, and leases under a
#   system identifier of its own: the old rows stay released.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use SnowflakeTest;

require_faketime();

my $old = new_node('old');
start_faked($old, '+7200');
$old->safe_psql('postgres', 'CREATE EXTENSION snowflake; CREATE DATABASE app');
$old->safe_psql('app', q{
	CREATE EXTENSION snowflake;
	CREATE TABLE orders (id bigint PRIMARY KEY DEFAULT snowflake_nextval(), v text);
	CREATE TABLE legacy (id bigserial PRIMARY KEY, v text);
	INSERT INTO legacy (v) SELECT 'old' FROM generate_series(1, 100);
	SELECT count(*) FROM snowflake_adopt_column('legacy', 'id', false);
	INSERT INTO orders (v) SELECT 'old' FROM generate_series(1, 1000);
	INSERT INTO legacy (v) SELECT 'old' FROM generate_series(1, 100);
});
my $old_max = $old->safe_psql('app',
	'SELECT greatest((SELECT max(id) FROM orders), (SELECT max(id) FROM legacy))');
my $old_sysid = $old->safe_psql('postgres',
	'SELECT system_identifier FROM pg_control_system()');
note "old cluster minted up to $old_max, at "
  . $old->safe_psql('app', "SELECT snowflake_timestamp($old_max)");

my $dump = $old->basedir . '/app.dump';
$old->command_ok([ 'pg_dump', '-Fc', '-d', $old->connstr('app'), '-f', $dump ],
	'pg_dump of a database with snowflake columns');
$old->stop;

# Mint $n rows into orders of $node and check they are all above $old_max.
sub new_rows_above_old
{
	my ($node, $what) = @_;
	my $r = wait_for_mint($node, timeout => 30);
	ok($r->{ok}, "$what: minting resumes once the clock has passed the old IDs");
	$node->safe_psql('app',
		"INSERT INTO orders (v) SELECT 'new' FROM generate_series(1, 500);
		 INSERT INTO legacy (v) SELECT 'new' FROM generate_series(1, 500)");
	is( $node->safe_psql('app', qq{
			SELECT count(*) FILTER (WHERE id <= $old_max) || '/' || count(*)
			FROM (SELECT id FROM orders WHERE v = 'new' UNION ALL
			      SELECT id FROM legacy WHERE v = 'new') n}),
		'0/1000', "$what: every new ID is above every ID the old cluster minted");
	is( $node->safe_psql('app', q{
			SELECT count(*) = count(DISTINCT id) FROM orders}),
		't', "$what: no ID in orders twice");
	return;
}

# The slots of $node hold distinct worker IDs, each leased to $node alone.
sub leases_consistent
{
	my ($node, $what) = @_;
	ok(poll_until($node, "SELECT count(*) = 8 FROM snowflake_status WHERE lease_state = 'held'"),
		"$what: every slot holds a lease");
	my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
	isnt($sysid, $old_sysid, "$what: the new cluster has a system identifier of its own");
	is( $node->safe_psql('postgres', qq{
			SELECT count(DISTINCT s.worker_id) || '|' ||
			       count(*) FILTER (WHERE l.holder_system_id = '$sysid' AND l.released_at IS NULL
			                          AND l.expires_at > now())
			FROM snowflake_status s
			JOIN snowflake_state.worker_lease l ON l.worker_id = s.worker_id}),
		'8|8', "$what: eight distinct worker IDs, each leased to this cluster in the lease table");
	return;
}

# --- pg_dump / pg_restore into a new cluster -----------------------------------
my $restored = new_node('restored');
start_faked($restored, '+3600');
$restored->safe_psql('postgres', 'CREATE DATABASE app');
$restored->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $restored->connstr('app'), $dump ],
	'pg_restore into a new cluster');
is($restored->safe_psql('app', 'SELECT count(*) FROM orders'), '1000', 'the rows came back');

$restored->safe_psql('postgres', 'CREATE EXTENSION snowflake; CREATE ROLE app_user LOGIN');
my $r;
$r = try_sql_as($restored, 'app_user', 'SELECT * FROM snowflake_restore_floor()', dbname => 'app');
is($r->{sqlstate}, '42501', 'snowflake_restore_floor() is for superusers only');
$r = try_sql_as($restored, 'app_user', "SELECT snowflake_raise_floor(now() + interval '1 year')",
	dbname => 'app');
is($r->{sqlstate}, '42501', 'snowflake_raise_floor() is for superusers only');

my $floor = $restored->safe_psql('app',
	'SELECT source, max_id, up_to FROM snowflake_restore_floor()');
note $floor;
like($floor, qr/^public\.legacy\.id\|\d+\|/m, 'the floor reads the adopted column');
like($floor, qr/^public\.orders\.id\|\d+\|/m, 'the floor reads the snowflake column');
like($floor, qr/^this server's floor, made durable\|\|/m, 'and raises the server\'s floor');
is( $restored->safe_psql('app', q{
		SELECT max(max_id) FROM snowflake_restore_floor()}),
	$old_max, 'the floor covers the largest restored ID');

$r = try_sql($restored, 'SELECT snowflake_nextval()', dbname => 'app');
is($r->{sqlstate}, 'SF001',
	'with its clock an hour behind the restored IDs, the new cluster refuses to mint (SF001)');

# The floor is durable: a restart with the clock still behind refuses too.
start_faked($restored, '+3600', 'restart');
$r = try_sql($restored, 'SELECT snowflake_nextval()', dbname => 'app');
is($r->{sqlstate}, 'SF001', 'after a restart, still below the restored IDs: refused');

set_clock($restored, '+7300');
new_rows_above_old($restored, 'restored');
leases_consistent($restored, 'restored');
$restored->stop;

# --- pg_upgrade ---------------------------------------------------------------------
my $upgraded = new_node('upgraded');
# the binaries the test clusters run with: the first pg_ctl in PATH
my ($bindir) = grep { -x "$_/pg_ctl" && -x "$_/pg_upgrade" } split /:/, $ENV{PATH};
BAIL_OUT('no pg_upgrade beside pg_ctl in PATH') unless defined $bindir;
my $workdir = $upgraded->basedir . '/pg_upgrade';
mkdir $workdir or die "could not create $workdir: $!";
my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[ 'pg_upgrade', '-b', $bindir, '-B', $bindir,
	  '-d', $old->data_dir, '-D', $upgraded->data_dir,
	  '-p', $old->port, '-P', $upgraded->port, '--socketdir', $workdir ],
	'>', \$stdout, '2>', \$stderr,
	init => sub { chdir $workdir or die "chdir $workdir: $!" });
ok($ok, 'pg_upgrade of a cluster that preloads snowflake, into one that does')
  or diag "pg_upgrade:\n$stdout\n$stderr\n"
  . join('', map { "--- $_\n" . slurp_file($_) }
	  glob($upgraded->data_dir . '/pg_upgrade_output.d/*/log/*'));

start_faked($upgraded, '+3600');
is( $upgraded->safe_psql('postgres', qq{
		SELECT string_agg(worker_id::text, ',' ORDER BY worker_id) || '|' || bool_and(released_at IS NOT NULL)
		FROM snowflake_state.worker_lease WHERE holder_system_id = '$old_sysid'}),
	'0,1,2,3,4,5,6,7|true', 'the old cluster\'s leases came across, all released');
is($upgraded->safe_psql('app', 'SELECT count(*) FROM orders'), '1000', 'the rows came across');
$r = try_sql($upgraded, 'SELECT snowflake_nextval()', dbname => 'app');
is($r->{sqlstate}, 'SF001',
	'with its clock an hour behind the old durable mark, the upgraded cluster refuses to mint (SF001)');
set_clock($upgraded, '+7300');
new_rows_above_old($upgraded, 'upgraded');
leases_consistent($upgraded, 'upgraded');
$upgraded->stop;

done_testing();
