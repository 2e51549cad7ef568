
# Copyright (c) the snowflake authors
#
# Restarts: IDs minted after a clean restart (and after an immediate
# shutdown) are above every ID minted before, and at or above the durable
# high-water mark: after an immediate shutdown the one shown before the
# restart, after a clean one the one stored at shutdown, one millisecond
# above the last ID.  Layout configuration that
# cannot work keeps the server from starting, with a clear message in the
# log; once fixed, the server starts and mints.  A layout whose time field
# has already run out still starts, warns, and refuses to mint.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init;
# A horizon longer than a restart takes, so that the durable high-water mark
# is still ahead of the clock when the server comes back.
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'snowflake'
snowflake.high_water_horizon = '3s'
});
$node->start;

$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION snowflake;
	CREATE TABLE ids (phase integer NOT NULL, ord integer NOT NULL, id bigint NOT NULL);
});

# Minting may wait after a start (for a worker ID lease, or for the clock to
# pass the durable high-water mark): wait until it works, up to the default
# TAP timeout.
sub minting_resumes
{
	my ($node, $how) = @_;
	ok( $node->poll_query_until(
			'postgres', 'SELECT snowflake_nextval() > 0'),
		"minting resumes after $how");
	return;
}

# Mint through both paths, in several sessions.
sub mint
{
	my ($phase) = @_;
	foreach my $round (1 .. 3)
	{
		$node->safe_psql(
			'postgres', qq{
			INSERT INTO ids SELECT $phase, g, snowflake_nextval()
			  FROM generate_series(1, 2000) g;
			INSERT INTO ids SELECT $phase, 2000 + o, b
			  FROM snowflake_batch(5000) WITH ORDINALITY AS t(b, o);
		});
	}
	return;
}

# The high-water mark as snowflake_status shows it, in epoch milliseconds,
# after checking that it covers every ID minted so far.
sub mark_covers_ids
{
	my ($phase) = @_;
	is( $node->safe_psql(
			'postgres', qq{
			SELECT max(high_water_mark) >=
				   (SELECT snowflake_timestamp(max(id)) FROM ids WHERE phase = $phase)
			  FROM snowflake_status}),
		't',
		"the high-water mark is at or above every ID of phase $phase");
	my $mark = $node->safe_psql('postgres',
		"SELECT (extract(epoch FROM max(high_water_mark)) * 1000)::bigint FROM snowflake_status");
	return $mark eq '' ? 'NULL' : $mark;
}

sub check_phase
{
	my ($before, $after, $how, $mark) = @_;
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM ids WHERE phase = $after"),
		'21000',
		"IDs minted after $how");
	is( $node->safe_psql(
			'postgres', qq{
			SELECT (SELECT min(id) FROM ids WHERE phase = $after) >
			       (SELECT max(id) FROM ids WHERE phase <= $before)}),
		't',
		"every ID minted after $how is above every ID minted before");
	is( $node->safe_psql(
			'postgres', qq{
			SELECT (extract(epoch FROM snowflake_timestamp(min(id))) * 1000)::bigint >= $mark
			  FROM ids WHERE phase = $after}),
		't',
		"IDs minted after $how are at or above the high-water mark it left");
	return;
}

minting_resumes($node, 'the first start');
mint(1);
is($node->safe_psql('postgres', 'SELECT count(*) FROM ids WHERE phase = 1'),
	'21000', 'IDs minted before the restart');

mark_covers_ids(1);
# A clean shutdown stores the mark one millisecond above the last ID.
my $mark = 1 + $node->safe_psql('postgres',
	'SELECT (extract(epoch FROM snowflake_timestamp(max(id))) * 1000)::bigint FROM ids');
$node->restart;
minting_resumes($node, 'a clean restart');
mint(2);
check_phase(1, 2, 'a clean restart', $mark);

# An immediate shutdown skips every shutdown hook; crash recovery follows.
$mark = mark_covers_ids(2);
$node->stop('immediate');
$node->start;
minting_resumes($node, 'an immediate shutdown');
mint(3);
check_phase(2, 3, 'an immediate shutdown', $mark);

is( $node->safe_psql(
		'postgres', 'SELECT count(*) = count(DISTINCT id) FROM ids'),
	't', 'no ID was minted twice across the restarts');

# Configuration that cannot work: the server refuses to start and the log
# says why.  Settings appended later in postgresql.conf win, so each case
# appends its settings and the fix appends the defaults again.
$node->stop;

my @bad = (
	{
		name => 'worker IDs past the worker field',
		conf => "snowflake.worker_bits = 20\n"
		  . "snowflake.sequence_bits = 22\n"
		  . "snowflake.worker_id = 1048575\n",
		log => qr/FATAL:.*worker IDs 1048575 to 1048582 do not fit in 20 worker bits/,
	},
	{
		name => 'a region without region bits',
		conf => "snowflake.region = 5\nsnowflake.region_bits = 0\n",
		log => qr/FATAL:.*snowflake\.region is set but snowflake\.region_bits is 0/,
	},
	{
		name => 'a region past its bits',
		conf => "snowflake.region_bits = 2\nsnowflake.region = 5\n",
		log => qr/FATAL:.*snowflake\.region 5 does not fit in snowflake\.region_bits = 2/,
	},
	{
		name => 'more region bits than worker bits',
		conf => "snowflake.region_bits = 11\n",
		log => qr/FATAL:\s+invalid snowflake layout configuration\n.*DETAIL:\s+snowflake\.region_bits = 11 is outside the valid range 0 to 9/,
	},
	{
		name => 'an epoch that is not a timestamp',
		conf => "snowflake.epoch = 'not a timestamp'\n",
		log => qr/FATAL:\s+invalid snowflake layout configuration\n.*DETAIL:\s+snowflake\.epoch = 'not a timestamp' is not a finite timestamp/,
	},
	{
		name => 'sequence bits past their range',
		conf => "snowflake.sequence_bits = 23\n",
		log => qr/FATAL:\s+invalid snowflake layout configuration\n.*DETAIL:\s+snowflake\.sequence_bits = 23 is outside the valid range 1 to 22/,
	});

my $defaults =
	"snowflake.worker_bits = 10\n"
  . "snowflake.sequence_bits = 12\n"
  . "snowflake.worker_id = -1\n"
  . "snowflake.region_bits = 0\n"
  . "snowflake.region = 0\n"
  . "snowflake.epoch = '2024-01-01 00:00:00+00'\n";

foreach my $case (@bad)
{
	my $offset = -s $node->logfile;

	$node->append_conf('postgresql.conf', $case->{conf});
	my $started = $node->start(fail_ok => 1);
	ok(!$started, "server refuses to start with $case->{name}");
	like(slurp_file($node->logfile, $offset),
		$case->{log}, "log says what is wrong with $case->{name}");
	$node->stop if $started;

	$node->append_conf('postgresql.conf', $defaults);
	ok($node->start(fail_ok => 1),
		"server starts again once $case->{name} is fixed");
	minting_resumes($node, "$case->{name} is fixed");
	my $id = $node->safe_psql('postgres', 'SELECT snowflake_nextval()');
	is( $node->safe_psql(
			'postgres', "SELECT $id > (SELECT max(id) FROM ids)"),
		't',
		"server mints again after $case->{name}, above earlier IDs");
	$node->stop;
}

# A layout whose time field ran out long ago (21 time bits are 35 minutes
# from the epoch) is not a configuration error: the server starts and warns,
# and minting refuses.  Its own node, so the main node's layout never
# changes.
my $short = PostgreSQL::Test::Cluster->new('short_time_field');
$short->init;
$short->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'snowflake'
snowflake.worker_bits = 20
snowflake.sequence_bits = 22
});
ok($short->start(fail_ok => 1),
	'server starts with a layout whose time field ran out');
like(
	slurp_file($short->logfile),
	qr/WARNING:.*time field.*runs out/,
	'server log warns that the time field runs out');
$short->safe_psql('postgres', 'CREATE EXTENSION snowflake');
# Other refusals (no worker ID leased yet) may come first: retry a while.
my ($ret, $stdout, $stderr);
foreach my $try (1 .. 100)
{
	($ret, $stdout, $stderr) = $short->psql(
		'postgres',
		"\\set VERBOSITY verbose\nSELECT snowflake_nextval()",
		on_error_stop => 1);
	last if $ret == 0 || $stderr =~ /SF005/;
	usleep(100_000);
}
isnt($ret, 0, 'minting fails once the time field ran out');
like($stderr, qr/ERROR:\s+SF005:.*time field ran out/,
	'minting refuses with SF005 once the time field ran out');
is( $short->safe_psql(
		'postgres',
		"SELECT count(*) > 0 AND bool_and(time_field_ends_at < now())
		 FROM snowflake_status"),
	't',
	'snowflake_status shows when the time field ran out');
$short->stop;

done_testing();
