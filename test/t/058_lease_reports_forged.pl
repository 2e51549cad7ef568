
# Copyright (c) the snowflake authors
#
# The coordinator's lease statements do not trust what a holder sends.
# A server holds worker ID 5; gdb stops its lease keeper at a renewal and
# changes what the renewal carries, as a buggy or hostile holder would:
#
# 1. The last millisecond minted is reported as 1970-01-01 00:00:01: the
#    worker ID's last_minted_at on the coordinator only ever rises, so the
#    floor a later holder gets still covers every ID this one minted.
# 2. The holder's system identifier is changed: the renewal names the
#    right worker ID, fencing token and acquired_at but another holder, and
#    the coordinator renews nothing (renewed_at stands still).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use GdbTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $coord = new_coordinator('coordinator');
my $node = new_fleet_node('forged', $coord,
	conf => "snowflake.worker_id = 5\nsnowflake.worker_slots = 1\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($node, timeout => 30)->{ok}, 'the server mints under worker ID 5');
$node->safe_psql('postgres', 'SELECT count(*) FROM snowflake_batch(10000)');

sub row
{
	return $coord->safe_psql('postgres',
		"SELECT (extract(epoch FROM last_minted_at) * 1000)::int8,
		        (extract(epoch FROM renewed_at) * 1000000)::int8, holder_cluster_name
		   FROM snowflake_state.worker_lease WHERE worker_id = 5");
}

ok( poll_until(
		$coord, "SELECT last_minted_at > now() - interval '1 minute'
		   FROM snowflake_state.worker_lease WHERE worker_id = 5", 10),
	'a renewal reported what the server minted');
my ($last_ms, $renewed_us) = split /\|/, row();

# 1. A renewal reports a last millisecond far in the past.
my $gdb = gdb_attach(keeper_pid($node));
ok( $gdb->wait(
		$gdb->send("break snowflake_leases_renew\ncontinue"), 30),
	'the lease keeper stops at a renewal');
$gdb->wait($gdb->send("print refs[0].worker_id\n"
	  . "set var ((SnowflakeLeaseRef *) refs)[0].last_unix_ms = 1000\n"
	  . "print refs[0].last_unix_ms\ndelete"), 10);
like($gdb->out, qr/= 5\n.*= 1000\n/s, 'the renewal of worker ID 5 now reports 1970-01-01 00:00:01');
$gdb->detach;
ok( poll_until(
		$coord, "SELECT (extract(epoch FROM renewed_at) * 1000000)::int8 > $renewed_us
		   FROM snowflake_state.worker_lease WHERE worker_id = 5", 10),
	'the forged renewal reached the coordinator');
my ($after_ms) = split /\|/, row();
cmp_ok($after_ms, '>=', $last_ms, "last_minted_at did not go down ($after_ms, was $last_ms)");

# 2. A renewal from another system identifier.
ok(wait_for_mint($node, timeout => 10)->{ok}, 'the server still mints');
$gdb = gdb_attach(keeper_pid($node));
$gdb->wait($gdb->send("break snowflake_leases_renew\ncontinue"), 30);
$gdb->wait($gdb->send("print snowflake_keeper_server.system_id\n"
	  . "set var snowflake_keeper_server.system_id[0] = snowflake_keeper_server.system_id[0] == '9' ? '8' : '9'\n"
	  . "print snowflake_keeper_server.system_id\ndelete"), 10);
my @ids = $gdb->out =~ /= "(\d+)"/g;
ok(@ids >= 2 && $ids[-1] ne $ids[-2], "the keeper now calls itself system $ids[-1], not $ids[-2]");
my $forged_at_us = $coord->safe_psql('postgres', 'SELECT (extract(epoch FROM now()) * 1000000)::int8');
$gdb->detach;
usleep(3_000_000);    # three renewal intervals
my (undef, $renewed_after_us, $holder) = split /\|/, row();
cmp_ok($renewed_after_us, '<', $forged_at_us,
	'the coordinator renewed nothing for the other system identifier');
is($holder, 'forged', 'the lease row still names the server');

done_testing();
