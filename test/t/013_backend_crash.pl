
# Copyright (c) the snowflake authors
#
# A backend killed with SIGKILL while four sessions mint: the postmaster
# resets shared memory and restarts everything (a crash restart).  Minting
# resumes above the durable high-water mark the guard stored before the
# crash (waiting for the clock, never refusing for it: the clock is right
# and the mark is at most snowflake.high_water_horizon ahead), so no ID
# repeats and every new ID is above every ID committed before.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep);

my $node = new_node('backend_crash', conf => "restart_after_crash = on\n");
$node->start;
setup_ids($node);
ok(wait_for_mint($node)->{ok}, 'minting works');

my $bench = start_pgbench($node, clients => 4, seconds => 60, run => 1);
ok( poll_until($node, 'SELECT count(*) > 2000 FROM ids', 30),
	'sessions are minting');

my $log_offset = -s $node->logfile;
my $victim = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND pid <> pg_backend_pid() LIMIT 1"
);
ok($victim =~ /^\d+$/, 'found a minting backend');
my $guard_before = guard_pid($node);
kill('KILL', $victim);

$node->wait_for_log(qr/all server processes terminated; reinitializing/,
	$log_offset);
pass('the postmaster restarts after the crash');
my ($rc) = finish_pgbench($bench);
isnt($rc, 0, 'pgbench failed when its sessions were terminated');

ok(poll_until($node, 'SELECT true', 60), 'the server accepts connections again');
my $w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'minting resumes after the crash restart');
note 'refusals seen before it resumed: '
  . join(', ', map { "$_ x $w->{states}{$_}" } sort keys %{ $w->{states} });
ok(!$w->{states}{SF001},
	'no refusal for the clock (it is right: minting waits for the mark)');
my $guard_after = guard_pid($node);
isnt($guard_after, $guard_before, 'the guard worker was restarted too');

my $mark = mark_loaded_after($node, $log_offset);
ok(defined $mark, 'the guard loaded the durable high-water mark after the crash')
  and note "durable high-water mark: $mark";

($rc) = run_pgbench($node, clients => 4, seconds => 2, run => 2);
is($rc, 0, 'pgbench mints without an error after the crash restart');

is( $node->safe_psql(
		'postgres', q{
		SELECT (SELECT min(id) FROM ids WHERE run = 2) >
		       (SELECT max(id) FROM ids WHERE run = 1)}),
	't',
	'every ID minted after the crash is above every ID committed before');
if (defined $mark)
{
	is( $node->safe_psql(
			'postgres', qq{
			SELECT min(snowflake_timestamp(id)) >= '$mark'::timestamptz
			FROM ids WHERE run = 2}),
		't',
		'every ID minted after the crash is at or above the durable mark');
	is( $node->safe_psql(
			'postgres', qq{
			SELECT max(snowflake_timestamp(id)) < '$mark'::timestamptz
			FROM ids WHERE run = 1}),
		't',
		'every ID committed before the crash is below the durable mark');
}
check_ids($node, 'across a crash restart');

$node->stop;
done_testing();
