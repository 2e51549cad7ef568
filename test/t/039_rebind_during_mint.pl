
# Copyright (c) the snowflake authors
#
# Numbers a session takes from a slot while the lease keeper re-binds that
# slot to another worker ID are never used: the session mints again under
# the new binding, so no ID pairs the old worker ID with sequence numbers of
# the new lease.
#
# A server with one slot leases its worker ID w from the embedded table.
# Its wall clock is frozen (libfaketime, an absolute time F about 10 s
# ahead of the real clock; CLOCK_BOOTTIME, on which leases run, is not
# faked), so every ID is minted in the one millisecond F, and a session C
# mints the first of them, (F, w, 0).  Session B is stopped with gdb inside
# snowflake_nextval(), after it has read the slot's binding, deadline, cap
# and worker ID, just before it takes sequence numbers from the slot.  While
# B is stopped, the lease row of w is given another fencing token, so the
# keeper's next renewal loses w, and the keeper leases a never used worker
# ID w2 for the slot, whose state starts afresh.  Then B goes on: the
# numbers it takes come from w2's lease, so it must drop them and mint
# again under w2 -- its ID is (F, w2, 1), not (F, w, 0), which C already
# has.  Minting goes on afterwards, and no ID was minted twice.

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

require_faketime();

# The test point of the minting path (src/generator.h) just before numbers
# are taken from a slot, after its binding, deadline, cap and worker ID were
# read.  Test builds have it (scripts/test.sh).
my $take_point = 'snowflake_test_point_before_take';

my %leases = (%FleetTest::FAST_LEASES,
	'snowflake.worker_slots'       => '1',
	'snowflake.worker_id'          => '-1',
	'snowflake.high_water_horizon' => '5s');
my $node = new_node('rebind_during_mint',
	conf => join('', map { "$_ = '$leases{$_}'\n" } sort keys %leases));
start_faked($node, '+0');
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');

# B, and whether gdb may attach to it and stop it in snowflake_mint.
my $b = $node->background_psql('postgres', on_error_stop => 0);
my $b_pid = $b->query_safe('SELECT pg_backend_pid()');
my $probe = gdb_require_points($b_pid, sub { $b->quit }, $take_point);
like($probe, qr/in $take_point at \S*generator\.c:\d+/,
	"gdb sets a breakpoint at the test point $take_point");

# Freeze the wall clock of every process of the server at F, ahead of
# the real clock and of the mark and floors of the start.
my $F = int(time()) + 10;
freeze_clock($node, $F);
my $t1 = server_clock($node);
usleep(300_000);
my $t2 = server_clock($node);
is("$t1/$t2", "${F}000000/${F}000000",
	'the wall clock of backends is frozen at F');

# Minting works once the guard's mark and the lease's cap, which follow the
# faked clock, have passed F: the first ID at F is session C's.
my $w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'minting works with the clock frozen at F');
my $c_id = $w->{id} // '';
my @minted = ($c_id);
my $w_id = $node->safe_psql('postgres',
	'SELECT worker_id FROM snowflake_status WHERE slot = 0');
my ($c_worker, $c_seq, $c_time) = decode_id($node, $c_id);
is("$c_worker|$c_time", "$w_id|${F}000",
	"C's ID $c_id is at F under the slot's worker ID $w_id (sequence $c_seq)");

# Stop B just before it takes numbers from the slot.
my $gdb = gdb_attach($b_pid);
my $ready = $gdb->wait($gdb->send("break $take_point"), 60);
my ($bp_addr) =
  $gdb->out =~ /Breakpoint 1 at (0x[0-9a-f]+): file \S*generator\.c, line \d+\./;
ok($ready && defined $bp_addr,
	"gdb is attached to B, with a breakpoint at $take_point");
$gdb->clear;
my $hit = $gdb->send("continue\nprint/x \$pc\nup\nprint worker_id");
$b->query_until(qr/sent/, "\\echo sent\nSELECT snowflake_nextval();\n\\echo done\n");
ok($gdb->wait($hit), 'B called snowflake_nextval() and gdb reported back');
note "gdb at the breakpoint:\n" . $gdb->out;
my ($pc) = $gdb->out =~ /\$1 = (0x[0-9a-f]+)/;
ok($gdb->out =~ /Breakpoint 1, / && ($pc // '') eq ($bp_addr // 'none'),
	'B is stopped at the breakpoint, before it takes numbers from the slot');
if ($gdb->out =~ /\$2 = (-?\d+)/)
{
	is($1, $w_id, "B has read the slot's worker ID $w_id");
}

# Meanwhile the keeper loses w (its row now belongs to another
# acquisition) and leases another worker ID for the slot.
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres',
	"UPDATE snowflake_state.worker_lease SET fencing_token = fencing_token + 100
	  WHERE worker_id = $w_id");
ok( poll_until(
		$node,
		"SELECT worker_id IS NOT NULL AND worker_id <> $w_id AND lease_state = 'held'
		   FROM snowflake_status WHERE slot = 0",
		20),
	"the keeper re-binds the slot to another worker ID while B is stopped");
my $w2 = $node->safe_psql('postgres',
	'SELECT worker_id FROM snowflake_status WHERE slot = 0');
like(slurp_file($node->logfile, $log_offset),
	qr/lost the lease on worker ID $w_id\b/,
	"the keeper logged that it lost worker ID $w_id");
like(slurp_file($node->logfile, $log_offset),
	qr/leased worker ID $w2 \(/,
	"the keeper leased worker ID $w2 for the slot");

# B goes on.
ok($gdb->detach, 'gdb detached from B');
my $b_out = $b->query_until(qr/done\n/, '');
my ($b_id) = $b_out =~ /^(-?\d+)\n/;
$b_id //= '';
is($b->{stderr}, '', 'B reported no error');
like($b_id, qr/^\d+$/, "B minted an ID ($b_id)");
$b->quit;

ok(!(grep { $_ eq $b_id } @minted),
	"B's ID is none of the IDs minted before (C's is $c_id)");
my ($b_worker, $b_seq, $b_time) = decode_id($node, $b_id);
is($b_worker, $w2,
	"B's ID is under the slot's new worker ID $w2, not $w_id");
is("$b_time|$b_seq", "${F}000|1",
	'B minted at F with the second sequence number of the new lease: '
	  . 'the first, taken across the re-binding, went unused');
push @minted, $b_id;

# Minting goes on under the new binding; no ID was minted twice.
my $after = wait_for_mint($node, timeout => 10);
ok($after->{ok}, 'minting works after the re-binding');
push @minted, $after->{id} // '';
is((decode_id($node, $after->{id} // 0))[0],
	$w2, "the next ID is under worker ID $w2 too");
my %seen;
is(scalar(grep { !$seen{$_}++ } @minted),
	scalar(@minted), 'no ID was minted twice: ' . join(', ', @minted));

# The clock runs again before the framework stops the server.
set_clock($node, '+0');

done_testing();
