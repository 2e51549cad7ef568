
# Copyright (c) the snowflake authors
#
# Six servers (4 slots each) started at the same moment against one fresh
# coordinator: every slot of every server leases a worker ID of its own.
# snowflake_status on each server and the coordination table agree (24
# distinct IDs, 0..23, four per holder, one advisory lock each), and the IDs
# all six mint at the same time are all distinct and carry only the worker
# IDs their server holds.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $LOCK_KEY = 1397641047;
my $NODES    = 6;
my $SLOTS    = 4;

my $coord = new_coordinator('coordinator');
my @nodes = map {
	new_fleet_node("six_$_", $coord,
		conf => "snowflake.worker_slots = $SLOTS\n")
} 1 .. $NODES;

# Start all six at once: one pg_ctl each, all running together (the
# framework's start() waits for each server before the next).  Local helper.
sub start_together
{
	my @nodes = @_;
	my @runs;
	foreach my $node (@nodes)
	{
		my %h = (out => '', err => '');
		$h{run} = IPC::Run::start(
			[
				'pg_ctl', '-w', '-D', $node->data_dir, '-l', $node->logfile,
				'-o', '--cluster-name=' . $node->name, 'start'
			],
			'<', \undef, '>', \$h{out}, '2>', \$h{err});
		push @runs, \%h;
	}
	my $ok = 1;
	foreach my $i (0 .. $#nodes)
	{
		$runs[$i]{run}->finish;
		if ($runs[$i]{run}->result(0) != 0)
		{
			diag "pg_ctl start of " . $nodes[$i]->name . " failed: $runs[$i]{err}";
			$ok = 0;
		}
		# Let the framework know the postmaster, so that stop() and the
		# teardown at exit work.
		$nodes[$i]->_update_pid(-1);
	}
	return $ok;
}

my $t0 = time();
ok(start_together(@nodes), "$NODES servers started together");
note sprintf('started in %.2f s', time() - $t0);

my (%held, %pid_of);
foreach my $node (@nodes)
{
	my $name = $node->name;
	setup_ids($node);
	my $w = wait_for_mint($node, timeout => 30);
	ok($w->{ok}, "$name mints");
	ok( poll_until(
			$node,
			"SELECT count(*) FILTER (WHERE lease_state = 'held') = $SLOTS FROM snowflake_status",
			10),
		"all $SLOTS slots of $name hold a lease");
	is( $node->safe_psql(
			'postgres',
			'SELECT count(*), count(DISTINCT worker_id), count(worker_id) FROM snowflake_status'),
		"$SLOTS|$SLOTS|$SLOTS",
		"$name: $SLOTS slots, each with its own worker ID");
	$held{$name} = [ split /\n/,
		$node->safe_psql('postgres',
			'SELECT worker_id FROM snowflake_status ORDER BY worker_id') ];
	$pid_of{$name} = $node->{_pid};
	note "$name holds worker IDs @{ $held{$name} }";
}

my %owner;
foreach my $name (sort keys %held)
{
	push @{ $owner{$_} }, $name foreach @{ $held{$name} };
}
my @shared = grep { @{ $owner{$_} } > 1 } sort { $a <=> $b } keys %owner;
is(scalar(keys %owner), $NODES * $SLOTS,
	'snowflake_status of the six servers shows 24 distinct worker IDs');
is("@shared", '', 'no worker ID is held by two servers')
  or diag join("\n", map { "worker ID $_: @{ $owner{$_} }" } @shared);
is( join(',', sort { $a <=> $b } keys %owner),
	join(',', 0 .. $NODES * $SLOTS - 1),
	'a fresh coordinator handed out the lowest IDs, 0..23');

# The coordination table agrees.
is( $coord->safe_psql(
		'postgres', q{
		SELECT count(*), count(DISTINCT worker_id), count(DISTINCT holder_cluster_name),
		       count(DISTINCT holder_port), count(DISTINCT (holder_system_id, holder_pid)),
		       count(*) FILTER (WHERE released_at IS NULL AND expires_at > now())
		  FROM snowflake_state.worker_lease}),
	'24|24|6|6|6|24',
	'the coordination table has 24 live rows, 6 distinct holders');
foreach my $node (@nodes)
{
	my $name = $node->name;
	my $port = $node->port;
	is( $coord->safe_psql(
			'postgres', qq{
			SELECT string_agg(worker_id::text, ',' ORDER BY worker_id)
			  FROM snowflake_state.worker_lease
			 WHERE holder_cluster_name = '$name' AND holder_port = $port
			   AND holder_pid = $pid_of{$name} AND released_at IS NULL
			   AND fencing_token = 1}),
		join(',', @{ $held{$name} }),
		"the coordination table shows $name holding the IDs it shows (port, PID, token 1)");
}
is( $coord->safe_psql(
		'postgres', qq{
		SELECT count(*), count(DISTINCT objid), count(DISTINCT pid)
		  FROM pg_locks
		 WHERE locktype = 'advisory' AND classid = $LOCK_KEY AND objsubid = 2
		   AND granted}),
	'24|24|6',
	'the coordinator has 24 advisory locks (1397641047, worker_id), held by 6 sessions');

# All six mint at the same time.
my @bench = map { start_pgbench($_, clients => 2, seconds => 3, run => 1) } @nodes;
foreach my $i (0 .. $#nodes)
{
	my ($rc, $out, $err) = finish_pgbench($bench[$i]);
	is($rc, 0, $nodes[$i]->name . ': pgbench mints without an error')
	  or diag $err;
}
foreach my $node (@nodes)
{
	$node->safe_psql('postgres',
		'INSERT INTO ids (run, client, id) SELECT 2, 0, b FROM snowflake_batch(3000) b');
}

my (%seen, $total, @dups);
foreach my $node (@nodes)
{
	my $name = $node->name;
	check_ids($node, $name);
	my $list = '{' . join(',', @{ $held{$name} }) . '}';
	my ($n, $foreign) = split /\|/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT count(*), count(*) FILTER (WHERE snowflake_worker_id(id) <> ALL ('$list'::int[]))
		  FROM ids});
	cmp_ok($n, '>=', 3000, "$name minted a few thousand IDs ($n)");
	is($foreign, '0', "every ID $name minted carries a worker ID it holds");

	my %mine = map { $_ => 1 } @{ $held{$name} };
	my $bad = 0;
	foreach my $id (split /\n/, $node->safe_psql('postgres', 'SELECT id FROM ids'))
	{
		$total++;
		push @dups, $id if $seen{$id}++;
		$bad++ unless $mine{ ($id >> 12) & 1023 };
	}
	is($bad, 0, "$name: decoded in the test too, its IDs carry only its worker IDs");
}
note "IDs minted by the six servers: $total";
is(scalar(@dups), 0, "no ID was minted twice across the six servers ($total IDs)")
  or diag "duplicates: @dups[0 .. ($#dups < 9 ? $#dups : 9)]";

$_->stop foreach @nodes;
is( $coord->safe_psql(
		'postgres',
		'SELECT count(*) FROM snowflake_state.worker_lease WHERE released_at IS NOT NULL'),
	'24',
	'all 24 leases are released once the six servers stopped');
$coord->stop;
done_testing();
