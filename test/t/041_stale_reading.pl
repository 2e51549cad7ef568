
# Copyright (c) the snowflake authors
#
# Two guarantees for a session that holds an old clock reading or old
# slot readings while the lease keeper changes the slot under it.
#
# Part 1: a slot newly bound to a worker ID mints nothing at or below that
# worker ID's floor (the highest time its previous holders may have minted
# at), whatever clock reading a session holds.  A server with one slot
# leases worker ID w; its wall clock is frozen at F (libfaketime).  This
# server's own released row of another worker ID w2 carries the floor
# F + 2 s.  Session B is stopped with gdb inside snowflake_nextval() after
# it has read the clock (F) and passed the checks against max_ms and the
# high-water mark, before it reads the slot's binding.  The clock moves on
# to F + 5 s; w's row gets another fencing token, so the keeper loses w and
# leases w2 (its preferred candidate), and publishes it once its clock is
# past the floor.  Then B goes on with its reading F: its ID is under w2
# and above w2's floor.
#
# Part 2: numbers a session took from a slot across the release of the
# slot's lease go unused, so the last millisecond the release reports is
# all that was minted under the lease.  B is stopped again, this time after
# it has read the slot's binding, deadline, cap and worker ID (w2) with the
# clock reading F + 6 s, before it takes numbers from the slot, whose last
# ID is at F + 5 s.  The lease keeper is terminated and held with gdb at
# proc_exit, after it has released w2 (reporting F + 5 s as the last
# millisecond minted) and before it exits, so no lease can be taken while B
# goes on: B mints nothing under w2 above what the release reported (it
# finds no lease and refuses).  Once the keeper is back, minting goes on
# above the release's minting_until, and no ID was minted twice.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use GdbTest;
use Sys::Hostname;
use Test::More;
use Time::HiRes qw(usleep time);

require_faketime();

# The lease row of worker ID $w: fencing token, last_minted_at and
# minting_until (Unix ms), and whether it is released.
sub lease_row
{
	my ($node, $w) = @_;
	return split /\|/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT fencing_token, round(extract(epoch FROM last_minted_at) * 1000),
		       round(extract(epoch FROM minting_until) * 1000), released_at IS NOT NULL
		  FROM snowflake_state.worker_lease WHERE worker_id = $w});
}

# The test points of the minting path (src/generator.h): in snowflake_mint's
# loop over the slots, just before a slot's binding is read (the clock
# reading and the target already taken), and just before numbers are taken
# from the slot.  Test builds have them (scripts/test.sh).
my $pick_point = 'snowflake_test_point_before_binding';
my $take_point = 'snowflake_test_point_before_take';

my %leases = (%FleetTest::FAST_LEASES,
	'snowflake.worker_slots'       => '1',
	'snowflake.worker_id'          => '-1',
	'snowflake.high_water_horizon' => '5s');
my $node = new_node('stale_reading',
	conf => join('', map { "$_ = '$leases{$_}'\n" } sort keys %leases));
start_faked($node, '+0');
$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION snowflake;
	CREATE FUNCTION try_mint() RETURNS text LANGUAGE plpgsql AS $$
	BEGIN
		RETURN snowflake_nextval()::text;
	EXCEPTION WHEN OTHERS THEN
		RETURN 'error ' || SQLSTATE || ': ' || SQLERRM;
	END $$;});

# B, and whether gdb may attach to it.
my $b = $node->background_psql('postgres', on_error_stop => 0);
my $b_pid = $b->query_safe('SELECT pg_backend_pid()');
my $probe = gdb_require_points($b_pid, sub { $b->quit }, $pick_point, $take_point);
like($probe, qr/in $pick_point at \S*generator\.c:\d+\n/,
	"gdb sets a breakpoint at the test point $pick_point");
like($probe, qr/in $take_point at \S*generator\.c:\d+\n/,
	"gdb sets a breakpoint at the test point $take_point");

# B calls snowflake_nextval() (through try_mint(), which reports an error
# as text) and the call's result.
sub b_mint_start
{
	$b->query_until(qr/sent/, "\\echo sent\nSELECT try_mint();\n\\echo done\n");
	return;
}

sub b_mint_result
{
	my $out = $b->query_until(qr/done\n/, '');
	my ($res) = $out =~ /^(.*)\n/;
	return $res // '';
}

# Freeze the wall clock of every process of the server at F, ahead of
# the real clock and of the mark and floors of the start.
my $F = int(time()) + 10;
freeze_clock($node, $F);
my $t1 = server_clock($node);
usleep(300_000);
my $t2 = server_clock($node);
is("$t1/$t2", "${F}000000/${F}000000",
	'the wall clock of backends is frozen at F');

# Minting works once the mark and the lease's cap have passed F.
my $w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'minting works with the clock frozen at F');
my @minted = ($w->{id} // '');
my $w1 = $node->safe_psql('postgres',
	'SELECT worker_id FROM snowflake_status WHERE slot = 0');
my ($c_worker, $c_seq, $c_time) = decode_id($node, $minted[0]);
is("$c_worker|$c_time", "$w1|${F}000",
	"the first ID is at F under the slot's worker ID $w1");

# =====================================================================
# Part 1: a stale clock reading meets a slot newly bound above it
# =====================================================================

# This server's own released row of worker ID w2, whose previous holders
# may have minted up to F + 2 s: the keeper's first candidate.
my $w2     = $w1 + 5;
my $floor2 = ($F + 2) * 1000;
my $sysid  = $node->safe_psql('postgres',
	'SELECT system_identifier FROM pg_control_system()');
my $host = hostname();
my $port = $node->port;
$node->safe_psql(
	'postgres', qq{
	INSERT INTO snowflake_state.worker_lease
	VALUES ($w2, '$sysid', '$host', $port, 'stale_reading', 1,
		to_timestamp($F - 120), to_timestamp($F - 60), to_timestamp($F - 60),
		7, to_timestamp($floor2 / 1000.0), to_timestamp($floor2 / 1000.0),
		to_timestamp($F - 60))});

# Stop B after it has read the clock, before it reads the slot's binding.
my $g = gdb_attach($b_pid);
ok($g, 'gdb is attached to B');
ok( $g->wait($g->send("break $pick_point")),
	"gdb set a breakpoint at $pick_point");
$g->clear;
my $hit = $g->send("continue\nup\nprint target + snowflake_cluster_layout.epoch_ms");
b_mint_start();
ok($g->wait($hit), 'B called snowflake_nextval() and gdb reported back');
note "gdb at the breakpoint:\n" . $g->out;
like($g->out, qr/Breakpoint 1, $pick_point/s,
	'B is stopped before it reads the slot binding');
if ($g->out =~ /\$1 = (-?\d+)/)
{
	is($1, "${F}000", 'B is to mint at F, the clock reading it holds');
}

# The clock moves on to F + 5 s, and the keeper loses w1 and leases w2.
freeze_clock($node, $F + 5);
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres',
	"UPDATE snowflake_state.worker_lease SET fencing_token = fencing_token + 100
	  WHERE worker_id = $w1");
ok( poll_until(
		$node,
		"SELECT worker_id = $w2 AND lease_state = 'held'
		   FROM snowflake_status WHERE slot = 0",
		20),
	"the keeper re-binds the slot to worker ID $w2 and publishes it while B is stopped"
) or diag 'slots: ' . slot_states($node);
like(slurp_file($node->logfile, $log_offset),
	qr/leased worker ID $w2 \(/,
	"the keeper leased worker ID $w2 for the slot");
my (undef, $w2_floor, undef, $w2_released) = lease_row($node, $w2);
is("$w2_floor|$w2_released", "$floor2|f",
	"worker ID $w2 is held with its floor F + 2 s");

# B goes on with its reading F.
ok($g->detach, 'gdb detached from B');
my $b_id = b_mint_result();
like($b_id, qr/^\d+$/, "B minted an ID ($b_id)");
my ($b_worker, $b_seq, $b_time) = decode_id($node, $b_id =~ /^\d+$/ ? $b_id : 0);
is($b_worker, $w2, "B's ID is under the slot's new worker ID $w2");
cmp_ok($b_time, '>', $floor2,
	"B's ID ($b_time) is above the floor of worker ID $w2 ($floor2), though B read the clock at F"
);
push @minted, $b_id;

# =====================================================================
# Part 2: numbers taken across a release go unused
# =====================================================================

# B stops after reading the slot (bound to w2), before taking numbers,
# with the clock reading F + 6 s.
freeze_clock($node, $F + 6);
$g = gdb_attach($b_pid);
ok($g, 'gdb is attached to B again');
ok( $g->wait($g->send("break $take_point")),
	"gdb set a breakpoint at $take_point");
$g->clear;
$hit = $g->send("continue\nup\nprint worker_id");
b_mint_start();
ok($g->wait($hit), 'B called snowflake_nextval() and gdb reported back');
note "gdb at the breakpoint:\n" . $g->out;
like($g->out, qr/Breakpoint 1, $take_point/s,
	'B is stopped before it takes numbers from the slot');
if ($g->out =~ /\$1 = (-?\d+)/)
{
	is($1, $w2, "B has read the slot's worker ID $w2");
}

# The keeper releases its lease on SIGTERM and is held at proc_exit, before
# it exits: the postmaster cannot start another one meanwhile.
my $kpid = keeper_pid($node);
my $k = gdb_attach($kpid);
ok($k, "gdb is attached to the lease keeper ($kpid)");
ok($k->wait($k->send('break proc_exit')), 'gdb set a breakpoint at proc_exit');
$k->clear;
my $k_hit = $k->send("continue\nbacktrace 3");
$log_offset = -s $node->logfile;
kill('TERM', $kpid);
ok($k->wait($k_hit), 'the lease keeper got to proc_exit');
note "gdb at the keeper's breakpoint:\n" . $k->out;
my ($token2, $last2, $until2, $released2) = lease_row($node, $w2);
is($released2, 't', "the keeper released worker ID $w2 before it got to proc_exit");
like(slurp_file($node->logfile, $log_offset),
	qr/released worker ID $w2\b/, "the keeper logged the release of worker ID $w2");
note "release of $w2: last minted $last2, minting_until $until2 (B's last ID at $b_time)";
is( $node->safe_psql(
		'postgres', 'SELECT lease_state FROM snowflake_status'),
	'starting',
	'the slot holds no lease');

# B goes on, while no lease can be taken.
ok($g->detach, 'gdb detached from B');
my $b_idle = poll_until(
	$node,
	"SELECT state = 'idle' FROM pg_stat_activity WHERE pid = $b_pid", 20);
ok($k->detach, 'gdb detached from the lease keeper');
my $b_res = b_mint_result();
note "B's call returned: $b_res"
  . ($b_idle ? ' (before the keeper went on)' : ' (after the keeper went on)');
my $taken_after = 0;
if ($b_res =~ /^\d+$/)
{
	my ($worker, $seq, $time) = decode_id($node, $b_res);
	$b_res .= " (worker ID $worker, sequence $seq, time $time)";
	$taken_after = $worker == $w2 && $time > $last2 && $time <= $until2;
	push @minted, $b_res =~ /^(\d+)/;
}
ok(!$taken_after,
	"B minted nothing under worker ID $w2 above the last millisecond its release reported ($last2): $b_res"
);
like($b_res, qr/^error SF002: /,
	'B finds no lease while the keeper is stopped after the release, and refuses');

# The keeper is back (on the faked clock, now running 20 s ahead): minting
# goes on above the release's minting_until.
set_clock($node, '+20');
fake_workers($node, 'snowflake lease keeper');
my $after = wait_for_mint($node, timeout => 20);
ok($after->{ok}, 'minting goes on once the keeper leases again');
push @minted, $after->{id} // '';
cmp_ok((decode_id($node, $after->{id} // 0))[2],
	'>', $until2, "the next ID is above the release's minting_until ($until2)");
my %seen;
is(scalar(grep { !$seen{$_}++ } @minted),
	scalar(@minted), 'no ID was minted twice: ' . join(', ', @minted));

$b->quit;
$node->stop;

done_testing();
