
# Copyright (c) the snowflake authors
#
# Two servers pinned to the same worker ID (snowflake.worker_id = 5, one
# slot each) against one coordinator.  The first to start leases ID 5 and
# mints; the second refuses with SF008 and names the holder (cluster_name,
# port, system identifier, postmaster PID), while the first goes on
# minting.  Once the first stops cleanly, the second takes ID 5 by itself
# and mints above every ID the first minted; the first, started again, is
# now the one refused, naming the second.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;
use Time::HiRes qw(usleep time);

# Mint until it works or fails with a SQLSTATE other than SF002 (no lease
# yet: right after a start), at most $timeout seconds; returns try_sql's
# hash of the last attempt.  (Local helper.)
sub mint_outcome
{
	my ($node, $timeout) = @_;
	my $deadline = time() + $timeout;
	my $r;
	while (1)
	{
		$r = try_sql($node, 'SELECT snowflake_nextval()');
		return $r if $r->{ret} == 0;
		return $r if ($r->{sqlstate} // '') ne 'SF002';
		return $r if time() > $deadline;
		usleep(100_000);
	}
}

sub sysid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		'SELECT system_identifier FROM pg_control_system()');
}

# Insert the IDs of table ids on $from into table ids on $to (same run and
# client numbers, in the same order).
sub copy_ids
{
	my ($from, $to) = @_;
	my $rows = $from->safe_psql('postgres',
		"SELECT run, client, id FROM ids ORDER BY n");
	$rows =~ s/\|/\t/g;
	$to->safe_psql('postgres',
		"COPY ids (run, client, id) FROM STDIN;\n$rows\n\\.\n");
	return;
}

my $coord = new_coordinator('coordinator');
my %pinned = (conf => "snowflake.worker_id = 5\nsnowflake.worker_slots = 1\n");
my $first  = new_fleet_node('pin_first',  $coord, %pinned);
my $second = new_fleet_node('pin_second', $coord, %pinned);

$first->start;
setup_ids($first);
my $w = wait_for_mint($first, timeout => 30);
ok($w->{ok}, 'the first server mints');
is($first->safe_psql('postgres', "SELECT snowflake_worker_id($w->{id})"),
	'5', 'the first server mints under worker ID 5');
is(slot_states($first), '5:held', 'the first server holds worker ID 5');
is(lease_rows($coord), '5|pin_first|1|f',
	'the coordinator shows worker ID 5 leased to the first server, fencing token 1');
$first->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 1, 0, snowflake_nextval() FROM generate_series(1, 1000)'
);

# The second server: refused, and told who holds the ID.
$second->start;
setup_ids($second);
my $r = mint_outcome($second, 30);
isnt($r->{ret}, 0, 'the second server pinned to the same worker ID does not mint');
is($r->{sqlstate}, 'SF008', 'it refuses with SF008');
note "refusal on the second server:\n$r->{err}";
my $first_port = $first->port;
my $first_pid  = $first->{_pid};
my $first_sys  = sysid($first);
like($r->{err}, qr/pin_first/, "the error names the holder's cluster_name");
like($r->{err}, qr/(?<!\d)$first_port(?!\d)/, "the error names the holder's port");
like($r->{err}, qr/(?<!\d)$first_sys(?!\d)/,
	"the error names the holder's system identifier");
like($r->{err}, qr/(?<!\d)$first_pid(?!\d)/, "the error names the holder's PID");
unlike($r->{err}, qr/pin_second/, 'the error does not name the refused server');
is(slot_states($second), '5:held_elsewhere',
	"the second server's slot shows worker ID 5 held_elsewhere");
is(lease_rows($coord), '5|pin_first|1|f',
	'the lease on worker ID 5 is untouched');

# The first server still mints, under worker ID 5.
$first->safe_psql('postgres',
	'INSERT INTO ids (run, client, id) SELECT 2, 0, snowflake_nextval() FROM generate_series(1, 1000)'
);
is( $first->safe_psql(
		'postgres',
		'SELECT count(*), count(*) FILTER (WHERE snowflake_worker_id(id) = 5) FROM ids WHERE run = 2'),
	'1000|1000',
	'the first server still mints under worker ID 5');
is(slot_states($first), '5:held', 'the first server still holds worker ID 5');

# The first server mints continuously (pgbench) and is stopped cleanly
# while it does; the second takes over by itself.
my $bench = start_pgbench($first, clients => 2, seconds => 60, run => 3);
sleep(2);
my $stop_started = time();
$first->stop;
my $stopped = time();
finish_pgbench($bench);
note sprintf('first server stopped in %.2f s', $stopped - $stop_started);

$w = wait_for_mint(
	$second,
	timeout => 30,
	sql =>
	  'INSERT INTO ids (run, client, id) VALUES (10, 0, snowflake_nextval()) RETURNING id'
);
ok($w->{ok}, 'the second server resumes by itself once the first stopped');
diag sprintf(
	'second server minted %.2f s after the first server had stopped (refusals meanwhile: %s)',
	$w->{seconds},
	join(', ', map { "$_ x$w->{states}{$_}" } sort keys %{ $w->{states} }));
is($second->safe_psql('postgres', "SELECT snowflake_worker_id($w->{id})"),
	'5', 'the second server mints under worker ID 5');
is(slot_states($second), '5:held', 'the second server holds worker ID 5');
is(lease_rows($coord), '5|pin_second|2|f',
	'the coordinator shows worker ID 5 leased to the second server, fencing token 2');
my ($rc) = run_pgbench($second, clients => 2, seconds => 1, run => 11);
is($rc, 0, 'the second server mints without an error');

# The first server, started again, is refused in turn, naming the second.
$first->start;
$r = mint_outcome($first, 30);
is($r->{sqlstate}, 'SF008',
	'the first server, started again, refuses with SF008');
my $second_port = $second->port;
like($r->{err}, qr/pin_second/, 'and names the second server');
like($r->{err}, qr/(?<!\d)$second_port(?!\d)/, "and the second server's port");

# Every ID the second minted is above every ID the first minted.
my $first_max = $first->safe_psql('postgres', 'SELECT max(id) FROM ids');
my $first_n   = $first->safe_psql('postgres', 'SELECT count(*) FROM ids WHERE run = 3');
cmp_ok($first_n, '>', 0, "the first server minted under pgbench until it stopped ($first_n IDs)");
is( $second->safe_psql(
		'postgres', "SELECT min(id) > $first_max FROM ids WHERE run >= 10"),
	't',
	'every ID the second server minted is above the last ID the first minted');
copy_ids($first, $second);
check_ids($second, 'both servers pinned to worker ID 5');

$first->stop;
$second->stop;
$coord->stop;
done_testing();
