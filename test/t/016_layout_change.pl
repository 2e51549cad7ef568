
# Copyright (c) the snowflake authors
#
# A server started with a layout other than the one it recorded when it
# first minted: the server starts, minting refuses with SF006 and a message
# that names both layouts, and the recorded layout is left as it was.  Once
# the layout is restored, the server mints again, above what it minted
# before.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep);

my $node = new_node('layout_change');
$node->start;
setup_ids($node);
ok(wait_for_mint($node)->{ok}, 'minting works');
$node->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 1, 0, snowflake_nextval() FROM generate_series(1, 1000)'
);
my $recorded = $node->safe_psql('postgres',
	'SELECT recorded_layout FROM snowflake_state.server_state');
like(
	$recorded,
	qr/^epoch 1704067200000 ms after 1970-01-01 UTC, 10 worker bits, 12 sequence bits, 0 region bits$/,
	'the layout of the first start is recorded');

# Settings appended later in postgresql.conf win.
my $defaults =
	"snowflake.epoch = '2024-01-01 00:00:00+00'\n"
  . "snowflake.worker_bits = 10\n"
  . "snowflake.sequence_bits = 12\n"
  . "snowflake.region_bits = 0\n";

my @cases = (
	{
		name       => 'another epoch',
		conf       => "snowflake.epoch = '2023-01-01 00:00:00+00'\n",
		configured => qr/epoch 1672531200000 ms after 1970-01-01 UTC, 10 worker bits, 12 sequence bits, 0 region bits/,
	},
	{
		name => 'other worker and sequence bits',
		conf => "snowflake.worker_bits = 11\nsnowflake.sequence_bits = 11\n",
		configured => qr/epoch 1704067200000 ms after 1970-01-01 UTC, 11 worker bits, 11 sequence bits, 0 region bits/,
	},
	{
		name       => 'region bits',
		conf       => "snowflake.region_bits = 2\n",
		configured => qr/epoch 1704067200000 ms after 1970-01-01 UTC, 10 worker bits, 12 sequence bits, 2 region bits/,
	});

my $run = 1;
foreach my $case (@cases)
{
	my $name = $case->{name};
	$node->stop;
	$node->append_conf('postgresql.conf', $case->{conf});
	my $log_offset = -s $node->logfile;
	ok($node->start(fail_ok => 1), "the server starts with $name");

	# The guard needs a moment to load the recorded layout (until then a
	# mint waits and refuses with SF007): retry until SF006.
	my $r;
	foreach my $try (1 .. 50)
	{
		$r = try_sql($node, 'SELECT snowflake_nextval()');
		last if $r->{ret} == 0 || ($r->{sqlstate} // '') eq 'SF006';
		usleep(100_000);
	}
	isnt($r->{ret}, 0, "minting fails with $name");
	is($r->{sqlstate}, 'SF006', "minting refuses with SF006 with $name")
	  or diag $r->{err};
	like($r->{err}, qr/configured layout differs from the layout recorded/,
		"the error says the layout changed ($name)");
	like(
		$r->{err},
		qr/DETAIL:\s+Recorded: \Q$recorded\E\. Configured: $case->{configured}\./,
		"the error names the recorded and the configured layout ($name)");
	like($r->{err}, qr/HINT:.*Restore the recorded layout settings/,
		"the hint says what to do ($name)");
	like(
		slurp_file($node->logfile, $log_offset),
		qr/WARNING:.*configured layout differs.*\n.*DETAIL:\s+Recorded: \Q$recorded\E\. Configured: $case->{configured}\./,
		"the server log warns, naming both layouts ($name)");

	# Still refused a while later, in every session and through batches.
	usleep(500_000);
	$r = try_sql($node, 'SELECT count(*) FROM snowflake_batch(10)');
	is($r->{sqlstate}, 'SF006', "snowflake_batch refuses with SF006 too ($name)");
	cmp_ok(status_value($node, 'sum(refusals_other)'),
		'>=', 2, "the refusals are counted (refusals_other, $name)");
	is(status_value($node, 'count(high_water_mark)'),
		'0', "no high-water mark is published ($name)");
	is( $node->safe_psql(
			'postgres', 'SELECT recorded_layout FROM snowflake_state.server_state'),
		$recorded,
		"the recorded layout is unchanged ($name)");

	# Restore the layout: minting works again, above every earlier ID.
	$node->append_conf('postgresql.conf', $defaults);
	$node->restart;
	$run++;
	my $w = wait_for_mint(
		$node,
		timeout => 30,
		sql =>
		  "INSERT INTO ids (run, client, id) VALUES ($run, 0, snowflake_nextval()) RETURNING id"
	);
	ok($w->{ok}, "minting works again once the layout is restored (after $name)");
	ok(!$w->{states}{SF006}, "no layout refusal once it is restored (after $name)");
	is( $node->safe_psql(
			'postgres',
			"SELECT $w->{id} > (SELECT max(id) FROM ids WHERE run < $run)"),
		't',
		"the new ID is above every earlier one (after $name)");
}

check_ids($node, 'across layout changes');

$node->stop;

# The layout recorded is the one the server first *minted* with: a layout
# changed before any ID was minted is a configuration change, not a
# migration, so a server that started but never minted records nothing.
my $fresh = new_node('layout_before_mint');
$fresh->start;
# give the guard time to do whatever it would do at start
sleep(1);
is( $fresh->safe_psql(
		'postgres',
		"SELECT to_regclass('snowflake_state.server_state') IS NULL"),
	't',
	'a server that never minted has recorded no layout');
$fresh->stop;
$fresh->append_conf('postgresql.conf',
	"snowflake.epoch = '2023-01-01 00:00:00+00'\n");
$fresh->start;
$fresh->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $r;
foreach my $try (1 .. 50)
{
	$r = try_sql($fresh, 'SELECT snowflake_nextval()');
	last if $r->{ret} == 0 || ($r->{sqlstate} // '') eq 'SF006';
	usleep(100_000);
}
is($r->{ret}, 0,
	'a server that never minted mints under a layout changed before its first ID'
) or diag $r->{err};
like(
	$fresh->safe_psql(
		'postgres', 'SELECT recorded_layout FROM snowflake_state.server_state'),
	qr/^epoch 1672531200000 ms after 1970-01-01 UTC,/,
	'the layout recorded is the one of the first ID');
$fresh->stop;

done_testing();
