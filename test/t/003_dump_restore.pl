# Layouts defined with snowflake_define_layout() are per database and
# survive pg_dump and restore; the trigger that keeps them unchanged does
# not get in the way of the restore.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'snowflake'\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('src', q{
	CREATE EXTENSION snowflake;
	SELECT snowflake_define_layout('tenths', '2020-01-01 00:00:00+00', 39, 16, 8,
								   '10 milliseconds', true);
	CREATE TABLE t (id bigint PRIMARY KEY DEFAULT snowflake_nextval(), v text);
	INSERT INTO t (v) SELECT 'row ' || g FROM generate_series(1, 100) g;
	CREATE INDEX t_ts ON t (snowflake_timestamp(id));
});
my $encoded = $node->safe_psql('src',
	"SELECT snowflake_encode('2024-06-01 12:00:00.120+00', 513, 7, 'tenths')");

$node->safe_psql('other', 'CREATE EXTENSION snowflake');
my ($ret, $out, $err) = $node->psql('other',
	"SELECT snowflake_timestamp($encoded, 'tenths')");
like($err, qr/snowflake layout "tenths" does not exist/,
	'a layout belongs to the database it was defined in');

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ],
	'pg_dump of a database with a defined layout');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore of that dump');

is( $node->safe_psql('restored',
		"SELECT name, epoch, time_bits, worker_bits, sequence_bits, time_unit, sequence_above_worker
		 FROM snowflake_layout"),
	$node->safe_psql('src',
		"SELECT name, epoch, time_bits, worker_bits, sequence_bits, time_unit, sequence_above_worker
		 FROM snowflake_layout"),
	'the defined layout is restored as it was');
is( $node->safe_psql('restored',
		"SELECT d.ts, d.worker_id, d.sequence FROM snowflake_decode($encoded, 'tenths') d"),
	$node->safe_psql('src',
		"SELECT d.ts, d.worker_id, d.sequence FROM snowflake_decode($encoded, 'tenths') d"),
	'an ID decodes the same after the restore');
is( $node->safe_psql('restored',
		"SELECT count(*) FROM t WHERE snowflake_timestamp(id) <= now()"),
	'100', 'rows and their expression index came back');
is( $node->safe_psql('restored', "SELECT snowflake_nextval() > (SELECT max(id) FROM t)"),
	't', 'the restored table goes on with new, larger IDs');

($ret, $out, $err) = $node->psql('restored',
	"UPDATE snowflake_layout SET time_bits = 40 WHERE name = 'tenths'");
like($err, qr/snowflake layouts cannot be changed or removed/,
	'a restored layout still cannot be changed');

$node->stop;
done_testing();
