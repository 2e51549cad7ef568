# Copyright (c) the snowflake authors
#
# Every released version updates to the newest with ALTER EXTENSION
# snowflake UPDATE, and the result has the same objects as a fresh install
# of the newest: same functions (bodies, volatility, strictness,
# parallel safety), tables, views, triggers, types, operators, casts,
# comments and privileges.  Before the update, the newest library serves a
# database still at the older version.
#
# The comparison is pg_dump --binary-upgrade --schema-only, the one mode in
# which pg_dump writes out each member of an extension rather than just
# CREATE EXTENSION.  Lines that carry OIDs or LSNs of this particular
# database are normalised away before the two dumps are compared.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'snowflake'\n");
$node->start;

my $newest = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'snowflake'");
my @versions = split /\n/, $node->safe_psql('postgres', q{
	SELECT version FROM pg_available_extension_versions
	WHERE name = 'snowflake' ORDER BY string_to_array(version, '.')::int[]});
ok(scalar(grep { $_ eq '1.0' } @versions), 'version 1.0 is still shipped');
is($versions[-1], $newest, "the default version $newest is the newest shipped");

# The dump of a database's snowflake objects, with this database's OIDs
# and LSNs taken out.
sub objects_of
{
	my ($db) = @_;
	my $file = $node->basedir . "/$db.sql";
	$node->command_ok(
		[ 'pg_dump', '--binary-upgrade', '--schema-only', '--no-owner',
		  '-d', $node->connstr($db), '-f', $file ],
		"pg_dump --binary-upgrade of $db");
	my @lines;
	for (split /\n/, slurp_file($file))
	{
		next if /^\\(un)?restrict /;
		next if /binary_upgrade_set_next_/;
		next if /^-- Dumped (from|by)/;
		s/relfrozenxid = '\d+', relminmxid = '\d+'/relfrozenxid = XID, relminmxid = XID/;
		s/^WHERE oid = '\d+';/WHERE oid = OID;/;
		s/binary_upgrade_create_empty_extension\('snowflake', 'public', false, '([^']*)', '\{[0-9,]*\}'/binary_upgrade_create_empty_extension('snowflake', 'public', false, '$1', '{OIDS}'/;
		push @lines, $_;
	}
	return join("\n", @lines) . "\n";
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION snowflake');
is($node->safe_psql('fresh',
		"SELECT extversion FROM pg_extension WHERE extname = 'snowflake'"),
	$newest, "a fresh CREATE EXTENSION installs $newest");
my $fresh = objects_of('fresh');
like($fresh, qr/CREATE FUNCTION public\.snowflake_nextval\(\)/,
	'the dump lists the extension\'s members');

for my $old (@versions)
{
	next if $old eq $newest;
	my $db = 'from_' . ($old =~ s/\./_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION snowflake VERSION '$old'");

	# The newest library serves a database still at an older version:
	# minting, batches, status and the codec work before the update.
	ok($node->poll_query_until($db, 'SELECT snowflake_nextval() > 0'),
		"the library mints for a database at $old");
	is($node->safe_psql($db, 'SELECT count(*) FROM snowflake_batch(10)'), '10',
		"snowflake_batch works at $old");
	cmp_ok($node->safe_psql($db,
			'SELECT count(*) FROM snowflake_status WHERE ids_issued >= 0'), '>', 0,
		"the snowflake_status view works at $old");
	is($node->safe_psql($db,
			"SELECT snowflake_worker_id(snowflake_encode('2025-01-01+00', 7, 3))"), '7',
		"the codec works at $old");

	# Until the update, the newest library serves the old definitions: the
	# status view keeps the columns of $old.
	my $cols = $node->safe_psql($db,
		"SELECT count(*) FROM pg_attribute
		  WHERE attrelid = 'snowflake_status'::regclass AND attnum > 0");
	is($node->safe_psql($db,
			"SELECT count(*) FROM snowflake_status WHERE slot >= 0"),
		$node->safe_psql($db, 'SHOW snowflake.worker_slots'),
		"${old}'s snowflake_status ($cols columns) works before the update");
	$node->safe_psql($db, 'ALTER EXTENSION snowflake UPDATE');
	is($node->safe_psql($db,
			"SELECT extversion FROM pg_extension WHERE extname = 'snowflake'"),
		$newest, "$old updates to $newest");
	my $updated = objects_of($db);
	if ($updated eq $fresh)
	{
		pass("$old updated to $newest has the same objects as a fresh $newest");
	}
	else
	{
		my ($f, $u) = ("$db.fresh", "$db.updated");
		PostgreSQL::Test::Utils::append_to_file($node->basedir . "/$f", $fresh);
		PostgreSQL::Test::Utils::append_to_file($node->basedir . "/$u", $updated);
		my $diff = `diff -u @{[$node->basedir]}/$f @{[$node->basedir]}/$u`;
		fail("$old updated to $newest has the same objects as a fresh $newest");
		diag($diff);
	}

	# The updated extension works: it mints and decodes.
	ok($node->poll_query_until($db, 'SELECT snowflake_nextval() > 0'),
		"$old updated to $newest mints");
}

$node->stop;
done_testing();
