
# Copyright (c) the snowflake authors
#
# The extension in a server that does not preload it: CREATE EXTENSION,
# decoding and encoding work; minting and status refuse with SQLSTATE 55000
# and a message and hint that name shared_preload_libraries, without hurting
# the server.  Then the same node, preloaded, mints.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

# Run SQL that is expected to fail; return psql's exit code and stderr, with
# SQLSTATEs shown (VERBOSITY verbose prints "ERROR:  55000: ...").
sub psql_fails
{
	my ($node, $sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql(
		'postgres', "\\set VERBOSITY verbose\n$sql",
		on_error_stop => 1);
	return ($ret, $stderr);
}

my $log_offset = -s $node->logfile;

is( $node->safe_psql('postgres', "SHOW shared_preload_libraries"),
	'', 'server does not preload anything');

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION snowflake', on_error_stop => 1);
is($ret, 0, 'CREATE EXTENSION snowflake succeeds without the preload')
  or diag($stderr);
is( $node->safe_psql(
		'postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'snowflake'"),
	'1.1',
	'CREATE EXTENSION snowflake works without the preload');

# Decoding and encoding need no shared memory.  1 ms after the default epoch,
# worker 1, sequence 2: (1 << 22) | (1 << 12) | 2.
is( $node->safe_psql(
		'postgres',
		"SELECT snowflake_encode('2024-01-01 00:00:00.001+00', 1, 2)"),
	'4198402',
	'snowflake_encode works without the preload');
is( $node->safe_psql(
		'postgres',
		"SET TimeZone = 'UTC';
		 SELECT ts, worker_id, sequence, region IS NULL
		 FROM snowflake_decode(4198402)"),
	'2024-01-01 00:00:00.001+00|1|2|t',
	'snowflake_decode works without the preload');
is( $node->safe_psql(
		'postgres',
		"SELECT snowflake_encode(d.ts, d.worker_id, d.sequence, 'twitter')
		 FROM snowflake_decode(1541815603606036480, 'twitter') d"),
	'1541815603606036480',
	'built-in layouts work without the preload');

foreach my $call (
	'SELECT snowflake_nextval()',
	'SELECT snowflake_batch(3)',
	'SELECT * FROM snowflake_batch(3)',
	'SELECT * FROM snowflake_status()',
	'SELECT * FROM snowflake_status')
{
	my ($ret, $stderr) = psql_fails($node, $call);
	isnt($ret, 0, "$call fails without the preload");
	like(
		$stderr,
		qr/ERROR:\s+55000:/,
		"$call fails with SQLSTATE 55000");
	like(
		$stderr,
		qr/ERROR:\s+55000:[^\n]*shared_preload_libraries/,
		"$call: the message names shared_preload_libraries");
	like(
		$stderr,
		qr/HINT:[^\n]*shared_preload_libraries/,
		"$call: the hint names shared_preload_libraries");
}

# The same session goes on working after the refusal.
($ret, $stdout, $stderr) = $node->psql(
	'postgres',
	"SELECT snowflake_nextval();\nSELECT 'still here';",
	on_error_stop => 0);
like($stdout, qr/^still here$/m, 'session survives the refusal');

# The server is still up, and no backend crashed on the way.
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server is still up');
my $log = slurp_file($node->logfile, $log_offset);
unlike(
	$log,
	qr/terminated by signal|server process .* exited with exit code|PANIC|TRAP:/,
	'no backend crashed');

# Now preload the library: the same node mints.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'snowflake'");
$node->restart;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'snowflake', 'server now preloads snowflake');

# Minting may wait for a worker ID lease after a start.
ok( $node->poll_query_until('postgres', 'SELECT snowflake_nextval() > 0'),
	'minting works once preloaded');
my $id = $node->safe_psql('postgres', 'SELECT snowflake_nextval()');
like($id, qr/^[1-9][0-9]*$/, 'snowflake_nextval works with the preload');
is( $node->safe_psql(
		'postgres',
		"SELECT snowflake_timestamp($id) BETWEEN now() - interval '1 minute' AND clock_timestamp()"),
	't',
	'the minted ID carries the current time');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*), count(DISTINCT b), bool_and(b > $id)
		 FROM snowflake_batch(3) b"),
	'3|3|t',
	'snowflake_batch(3) works with the preload');
is( $node->safe_psql(
		'postgres', 'SELECT count(*) > 0 FROM snowflake_status'),
	't',
	'snowflake_status works with the preload');

$node->stop;

done_testing();
