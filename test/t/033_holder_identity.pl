
# Copyright (c) the snowflake authors
#
# Renewal matches the holder, not only the worker ID and fencing token.  A
# coordinator that lost committed transactions (asynchronous failover,
# point-in-time recovery) can hand out the same fencing token twice: the
# server that held it before the loss must not go on renewing the row the
# second holder took with that token.
#
# Servers A and B are pinned to worker ID 3 (one slot each).  B leases 3 and
# releases it; the coordinator's row as B left it is kept.  A then leases 3
# with fencing token t, and B, started again, is refused.  A's lease keeper
# is stopped (SIGSTOP) until A's fencing deadline has passed (A refuses with
# SF003), and the coordinator loses A's acquisition: the row goes back to
# what B left (fencing token t - 1, released, B as holder) and A's
# coordinator session is ended, so its advisory lock goes too.  B takes 3
# again, with fencing token t.  B's coordinator session is then dropped
# while B's lease keeper is stopped, and A's lease keeper is resumed first:
# it reconnects and finds the advisory lock free, so only the row can tell
# it that 3 is no longer its own.  Then B's lease keeper is resumed.
#
# Asserted: A's slot ends up lost or held elsewhere within a few renewal
# intervals; A mints nothing under worker ID 3 from the moment its
# acquisition was lost (minting on A and B all along); B keeps worker ID 3
# with fencing token t, and the coordinator's row names B.

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

# Lease keepers stopped with SIGSTOP; resumed whatever happens, before the
# framework stops the servers (this END block runs before Cluster.pm's).
my %stopped;

sub resume
{
	my ($pid) = @_;
	kill('CONT', $pid);
	delete $stopped{$pid};
	return;
}

END { kill('CONT', keys %stopped) if %stopped; }

my $LOCK_OF_3 = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
	AND classid = 1397641047 AND objid = 3 AND objsubid = 2";

sub lease_of_3
{
	my ($coord) = @_;
	return $coord->safe_psql('postgres',
		"SELECT holder_cluster_name, fencing_token, released_at IS NOT NULL
		   FROM snowflake_state.worker_lease WHERE worker_id = 3");
}

my $coord = new_coordinator('coordinator');
my $pin   = "snowflake.worker_id = 3\nsnowflake.worker_slots = 1\n";
my $node_a = new_fleet_node('server_a', $coord, conf => $pin);
my $node_b = new_fleet_node('server_b', $coord, conf => $pin);

# B leases 3 and releases it at a clean stop.
$node_b->start;
$node_b->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($node_b, timeout => 30);
ok($w->{ok}, 'B mints');
$node_b->stop;
my ($holder, $token, $released) = split /\|/, lease_of_3($coord);
is("$holder|$released", 'server_b|t', 'B released worker ID 3 at its stop');
my $t_before = $token;
# The row as B left it: what the coordinator falls back to when it loses
# what came after.
$coord->safe_psql('postgres',
	'CREATE TABLE public.row_before AS
	   SELECT * FROM snowflake_state.worker_lease WHERE worker_id = 3');

# A leases 3 with fencing token t.
$node_a->start;
$node_a->safe_psql('postgres', 'CREATE EXTENSION snowflake');
$w = wait_for_mint($node_a, timeout => 30);
ok($w->{ok}, 'A mints');
ok(poll_until($node_a, "SELECT lease_state = 'held' FROM snowflake_status", 10),
	'A holds worker ID 3');
($holder, my $t, $released) = split /\|/, lease_of_3($coord);
is("$holder|$released", 'server_a|f', 'the coordinator names A as holder of 3');
is($t, $t_before + 1, "A's fencing token is t = $t");

# B, started again, is refused: A holds 3.
$node_b->start;
ok( poll_until(
		$node_b, "SELECT lease_state = 'held_elsewhere' FROM snowflake_status", 20),
	'B, started again, finds worker ID 3 held by A');

# Stop A's lease keeper until A's fencing deadline has passed.
my $a_keeper = keeper_pid($node_a);
my $a_session = $coord->safe_psql('postgres', $LOCK_OF_3);
like($a_session, qr/^\d+$/, "A's coordinator session $a_session holds the lock of 3");
kill('STOP', $a_keeper) or die "could not stop $a_keeper: $!";
$stopped{$a_keeper} = 1;
my $sf003 = 0;
my $deadline = time() + 15;
while (time() < $deadline)
{
	my $r = try_sql($node_a, 'SELECT snowflake_nextval()');
	if (($r->{sqlstate} // '') eq 'SF003')
	{
		$sf003 = 1;
		last;
	}
	usleep(100_000);
}
ok($sf003, "with its lease keeper stopped, A refuses past its fencing deadline (SF003)");

# Minting on A and B from now on: every ID is kept with who minted it.
my (@a_ids, @b_ids, %a_states, %b_states);

sub mint_both
{
	foreach my $pair ([ $node_a, \@a_ids, \%a_states ], [ $node_b, \@b_ids, \%b_states ])
	{
		my ($node, $ids, $states) = @$pair;
		my $r = try_sql($node, 'SELECT snowflake_nextval()');
		if ($r->{ret} == 0)
		{
			push @$ids, $r->{out};
			$states->{minted}++;
		}
		else
		{
			$states->{ $r->{sqlstate} // "psql exit $r->{ret}" }++;
		}
	}
	return;
}

# poll_until that mints on A and B between tries.
sub poll_minting
{
	my ($node, $sql, $timeout) = @_;
	my $until = time() + $timeout;
	while (1)
	{
		my $r = try_sql($node, $sql);
		return 1 if $r->{ret} == 0 && $r->{out} eq 't';
		if (time() > $until)
		{
			note "poll timed out: $sql\nlast output: $r->{out}\nstderr: $r->{err}";
			return 0;
		}
		mint_both();
	}
}

# The coordinator loses A's acquisition: the row is what B left, and A's
# session (with its advisory lock) is gone.
$coord->safe_psql(
	'postgres', qq{
	UPDATE snowflake_state.worker_lease l
	   SET (holder_system_id, holder_host, holder_port, holder_cluster_name,
	        holder_pid, acquired_at, renewed_at, expires_at, fencing_token,
	        last_minted_at, minting_until, released_at)
	     = (b.holder_system_id, b.holder_host, b.holder_port, b.holder_cluster_name,
	        b.holder_pid, b.acquired_at, b.renewed_at, b.expires_at, b.fencing_token,
	        b.last_minted_at, b.minting_until, b.released_at)
	  FROM public.row_before b WHERE l.worker_id = 3;
	SELECT pg_terminate_backend($a_session);
});
is(lease_of_3($coord), "server_b|$t_before|t",
	"the coordinator's row is back to B's release, fencing token t - 1");
mint_both();

# B takes 3 again, with fencing token t.
ok(poll_minting($node_b, "SELECT lease_state = 'held' FROM snowflake_status", 15),
	'B takes worker ID 3');
is(lease_of_3($coord), "server_b|$t|f",
	"the coordinator names B as holder of 3 with fencing token t = $t");

# B's coordinator session drops while B's lease keeper is stopped; A's
# lease keeper resumes and reconnects first.
my $b_keeper  = keeper_pid($node_b);
my $b_session = $coord->safe_psql('postgres', $LOCK_OF_3);
like($b_session, qr/^\d+$/, "B's coordinator session $b_session holds the lock of 3");
kill('STOP', $b_keeper) or die "could not stop $b_keeper: $!";
$stopped{$b_keeper} = 1;
$coord->safe_psql('postgres', "SELECT pg_terminate_backend($b_session)");
ok( poll_until(
		$coord,
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $b_session", 10),
	"B's coordinator session is gone");
my $a_log     = -s $node_a->logfile;
my $resume_ts = $node_a->safe_psql('postgres', 'SELECT now()');
resume($a_keeper);
# A's keeper has decided once it renewed after resuming, or lost 3.
my $decided = poll_minting(
	$node_a, qq{
	SELECT fencing_deadline > '$resume_ts'::timestamptz + interval '2 seconds'
	    OR lease_state IN ('lost', 'held_elsewhere')
	  FROM snowflake_status}, 4);
note "A's lease keeper decided after resuming: "
  . ($decided ? slot_states($node_a) : 'no decision within 4 s');
resume($b_keeper);

ok( poll_minting(
		$node_a,
		"SELECT lease_state IN ('lost', 'held_elsewhere') FROM snowflake_status", 10),
	"A's slot is no longer held (lost or held elsewhere)")
  or diag "A's slot: " . slot_states($node_a)
  . "\ncoordinator row of 3: " . lease_of_3($coord);
like(slot_states($node_a), qr/^3:(lost|held_elsewhere)$/, "A's slot state: " . slot_states($node_a));

# Go on minting on both for a few seconds.
my $end = time() + 3;
mint_both() while time() < $end;
note 'A after the loss: ' . join(', ', map { "$_ x $a_states{$_}" } sort keys %a_states);
note 'B after the loss: ' . join(', ', map { "$_ x $b_states{$_}" } sort keys %b_states);

sub under_3
{
	my ($ids) = @_;
	return 0 unless @$ids;
	return $node_b->safe_psql(
		'postgres',
		"SELECT count(*) FROM unnest('{" . join(',', @$ids) . "}'::bigint[]) i
		  WHERE snowflake_worker_id(i) = 3");
}
my $a_under_3 = under_3(\@a_ids);
is($a_under_3, 0,
	'A minted no ID under worker ID 3 after its acquisition was lost ('
	  . scalar(@a_ids) . ' IDs minted on A)');
cmp_ok(under_3(\@b_ids), '>', 0, 'B minted under worker ID 3 meanwhile');
my %b_set = map { $_ => 1 } @b_ids;
is(scalar(grep { $b_set{$_} } @a_ids), 0, 'no ID was minted by both A and B');
ok(slurp_file($node_a->logfile, $a_log) =~ /snowflake: lost the lease on worker ID 3/,
	'A logged that it lost the lease on 3');

is(slot_states($node_b), '3:held', 'B still holds worker ID 3');
is(lease_of_3($coord), "server_b|$t|f",
	"the coordinator still names B as holder of 3, with fencing token t = $t");

$node_a->stop;
$node_b->stop;
$coord->stop;
done_testing();
