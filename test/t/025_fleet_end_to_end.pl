
# Copyright (c) the snowflake authors
#
# A fleet end to end: three minting servers lease their worker IDs from one
# coordinator and insert rows keyed by snowflake_nextval(); an aggregator
# subscribes to all three (logical replication) into one table whose primary
# key is the ID.  Under load from pgbench on all three at once, one minting
# server is restarted, then the coordinator, which stays down longer than the
# fencing window (TTL - margin = 4 s), so every server parks (SF003) and must
# resume by itself when the coordinator is back.  Afterwards the aggregator
# holds exactly the rows of the three servers, every ID once, and no apply
# conflict happened.

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

my $LOAD_SECONDS   = 25;
my $CHUNK_SECONDS  = 5;
my $CLIENTS        = 2;
# The coordinator is down this long: more than TTL - margin (4 s) after the
# last renewal any server sent.
my $COORD_DOWN     = 6;
# A slot's fencing deadline is at most TTL - margin after the last renewal
# that succeeded, which was sent before the coordinator stopped.
my $FENCING_WINDOW = 4;

my $coord = new_coordinator('coordinator');

my @names = qw(mint1 mint2 mint3);
my %server;
foreach my $name (@names)
{
	my $node = new_fleet_node($name, $coord,
		init => { allows_streaming => 'logical' });
	$node->start;
	$node->safe_psql(
		'postgres', q{
		CREATE EXTENSION snowflake;
		CREATE TABLE events (
			id bigint PRIMARY KEY DEFAULT snowflake_nextval(),
			origin text,
			payload int);
		CREATE PUBLICATION events_pub FOR TABLE events;
	});
	is($node->safe_psql('postgres', 'SHOW wal_level'), 'logical',
		"$name: wal_level = logical");
	ok(wait_for_mint($node, timeout => 30)->{ok}, "$name mints");
	$server{$name} = $node;
}

# The three servers hold disjoint worker IDs.
my %holder_of;
foreach my $name (@names)
{
	ok( poll_until(
			$server{$name},
			"SELECT bool_and(lease_state = 'held') FROM snowflake_status", 20),
		"$name holds a lease on every slot");
	my $ids = $server{$name}->safe_psql('postgres',
		"SELECT string_agg(worker_id::text, ',' ORDER BY slot) FROM snowflake_status");
	note "$name holds worker IDs $ids";
	$holder_of{$_} .= "$name " foreach split /,/, $ids;
}
is(scalar(grep { $holder_of{$_} =~ / \S/ } keys %holder_of),
	0, 'no worker ID is held by two servers');

# The aggregator: no snowflake, one table, a subscription per server.
my $agg = PostgreSQL::Test::Cluster->new('aggregator');
$agg->init;
$agg->append_conf('postgresql.conf',
	"wal_retrieve_retry_interval = '1s'\nmax_logical_replication_workers = 8\n"
	  . "max_worker_processes = 16\n");
$agg->start;
$agg->safe_psql('postgres',
	'CREATE TABLE events (id bigint PRIMARY KEY, origin text, payload int)');
foreach my $name (@names)
{
	my $node = $server{$name};
	my $conn = sprintf('host=%s port=%d dbname=postgres', $node->host, $node->port);
	$agg->safe_psql('postgres',
		"CREATE SUBSCRIPTION sub_$name CONNECTION '$conn' PUBLICATION events_pub");
}
ok( poll_until(
		$agg,
		"SELECT count(*) = 3 AND bool_and(srsubstate = 'r')
		   FROM pg_subscription_rel",
		60),
	'the aggregator has synchronised the three tables');

# pgbench on one server for at most $seconds.  A client that is refused or
# loses its connection (the server or the coordinator restarts) aborts, so
# the load runs in chunks: when a chunk ends early, the next one starts.
my %bench;
my %chunks;
my %bench_out;

sub start_chunk
{
	my ($name, $seconds) = @_;
	$bench{$name} = start_pgbench($server{$name},
		clients => $CLIENTS,
		seconds => $seconds,
		sql     => "INSERT INTO events (origin, payload) VALUES ('$name', 1);");
	$chunks{$name}++;
	return;
}

# Reap a finished chunk; returns 1 if $name has no chunk running.
sub reap_chunk
{
	my ($name) = @_;
	my $h = $bench{$name} or return 1;
	if ($h->{handle}->pumpable)
	{
		$h->{handle}->pump_nb;
		return 0;
	}
	$h->{handle}->finish;
	my $rc = $h->{handle}->result(0);
	my ($tx)     = $h->{out} =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $h->{out} =~ /number of failed transactions: (\d+)/;
	my $aborted  = () = $h->{err} =~ /client \d+ .*aborted/g;
	$bench_out{$name}{tx}      += $tx // 0;
	$bench_out{$name}{aborted} += $aborted;
	$bench_out{$name}{rc}{$rc}++;
	$bench_out{$name}{err} .= $h->{err};
	note "$name: pgbench chunk $chunks{$name} ended (exit $rc, "
	  . ($tx // '?') . " transactions, $aborted clients aborted)";
	note "$name: pgbench said: " . substr($h->{err}, 0, 600) if $rc != 0;
	delete $bench{$name};
	return 1;
}

my $t0 = time();
my $end = $t0 + $LOAD_SECONDS;
my ($mint2_back, $coord_stopped, $coord_start, $coord_back);
my @events = (
	[
		6,
		sub {
			note 'restarting mint2';
			$server{mint2}->stop('fast');
			$server{mint2}->start;
			$mint2_back = time();
		}
	],
	[
		11,
		sub {
			note "stopping the coordinator for $COORD_DOWN s";
			$coord->stop;
			$coord_stopped = time();
		}
	],
	[
		11 + $COORD_DOWN,
		sub {
			my $wait = $coord_stopped + $COORD_DOWN - time();
			usleep($wait * 1_000_000) if $wait > 0;
			note 'starting the coordinator';
			$coord_start = time();
			$coord->start;
			$coord_back = time();
		}
	]);

while (1)
{
	my $now = time();
	my $running = 0;
	foreach my $name (@names)
	{
		if (reap_chunk($name))
		{
			my $left = int($end - $now);
			start_chunk($name, $left < $CHUNK_SECONDS ? $left : $CHUNK_SECONDS)
			  if $left >= 1;
		}
		$running++ if $bench{$name};
	}
	if (@events && $now - $t0 >= $events[0][0])
	{
		my $event = shift @events;
		$event->[1]->();
		next;
	}
	last if !$running && $now >= $end - 1;
	usleep(100_000);
}
note sprintf('load ran for %.1f s', time() - $t0);
ok(defined $mint2_back, 'mint2 was restarted under load');
ok(defined $coord_back, 'the coordinator was stopped and started under load');

# Rows of each server, and the aggregator catching up.
my %count;
my $total = 0;
foreach my $name (@names)
{
	$count{$name} = $server{$name}->safe_psql('postgres', 'SELECT count(*) FROM events');
	$total += $count{$name};
	cmp_ok($count{$name}, '>', 0, "$name inserted rows ($count{$name})");
	note "$name: $chunks{$name} pgbench chunks, $bench_out{$name}{tx} transactions, "
	  . "$bench_out{$name}{aborted} clients aborted";
}
foreach my $name (@names)
{
	$server{$name}->wait_for_catchup("sub_$name");
}
ok(poll_until($agg, "SELECT count(*) >= $total FROM events", 60),
	'the aggregator caught up');

is($agg->safe_psql('postgres', 'SELECT count(*) FROM events'),
	$total, "the aggregator holds as many rows as the three servers together ($total)");
is($agg->safe_psql('postgres', 'SELECT count(DISTINCT id) FROM events'),
	$total, 'every ID on the aggregator is distinct');

# The aggregator holds exactly each server's IDs, under the server's name:
# the same count and the same digest of the sorted IDs.
my $digest = "SELECT count(*) || ':' || coalesce(md5(string_agg(id::text, ',' ORDER BY id)), '')
				FROM events WHERE origin = '%s'";
foreach my $name (@names)
{
	my $src = $server{$name}->safe_psql('postgres', sprintf($digest, $name));
	is($agg->safe_psql('postgres', sprintf($digest, $name)),
		$src, "every row of $name is on the aggregator, and nothing else of its name");
	is($server{$name}->safe_psql('postgres',
			"SELECT count(*) FROM events WHERE origin <> '$name'"),
		'0', "$name holds only its own rows");
}
is($agg->safe_psql('postgres',
		"SELECT count(*) FROM events WHERE origin NOT IN ('mint1', 'mint2', 'mint3')"),
	'0', 'the aggregator holds no row of another origin');

# While the coordinator was down: every server parked at its fencing
# deadline (its pgbench clients were refused with SF003), minted nothing past
# it, and resumed by itself once the coordinator was back.
note sprintf('coordinator down from %.3f to %.3f (%.1f s), up again at %.3f',
	$coord_stopped, $coord_start, $coord_start - $coord_stopped, $coord_back);
foreach my $name (@names)
{
	like($bench_out{$name}{err}, qr/SF003|past its fencing deadline/,
		"$name refused minting past its fencing deadline while the coordinator was down");
	is( $server{$name}->safe_psql(
			'postgres',
			sprintf("SELECT count(*) FROM events
			  WHERE snowflake_timestamp(id) > to_timestamp(%.3f)
			    AND snowflake_timestamp(id) < to_timestamp(%.3f)",
				$coord_stopped + $FENCING_WINDOW + 0.25, $coord_start)),
		'0',
		"$name minted nothing from $FENCING_WINDOW s after the coordinator stopped until it started again"
	);
	my $resumed = $server{$name}->safe_psql(
		'postgres',
		sprintf("SELECT extract(epoch FROM min(snowflake_timestamp(id)) - to_timestamp(%.3f))
			FROM events WHERE snowflake_timestamp(id) >= to_timestamp(%.3f)",
			$coord_back, $coord_start));
	ok($resumed ne '', "$name minted after the coordinator came back");
	diag "$name: first ID after the coordinator came back: ${resumed} s after its start returned"
	  . " (pgbench clients refused meanwhile reconnect first)";
	cmp_ok($resumed eq '' ? 99 : $resumed, '<', 3,
		"$name resumed minting within 3 s of the coordinator's return");
}
cmp_ok(
	$server{mint2}->safe_psql(
		'postgres',
		"SELECT count(*) FROM events WHERE snowflake_timestamp(id) > to_timestamp($mint2_back)"),
	'>', 0,
	'mint2 minted after its restart');

# No apply conflict.
my $log = slurp_file($agg->logfile);
my $dups = () = $log =~ /duplicate key value violates unique constraint/g;
is($dups, 0, 'no "duplicate key" error in the aggregator\'s log');
# PostgreSQL 15 counts every error of an apply worker in apply_error_count,
# the lost connection to mint2 while it restarted included.  So: no error at
# all for the subscriptions whose publisher ran throughout; for sub_mint2,
# every error counted is one of the connection errors its workers logged;
# and the aggregator logged no other error.
my %sub_of_pid;
while ($log =~ /\[(\d+)\] LOG:  logical replication (?:apply|table synchronization) worker for subscription "(\w+)"/g)
{
	$sub_of_pid{$1} = $2;
}
my $lost_connection = qr/could not (?:send end-of-streaming message to primary|receive data from WAL stream|connect to the publisher)/;
my (@other_errors, $mint2_connection_errors);
foreach my $line ($log =~ /^(.*\bERROR:.*)$/mg)
{
	my ($pid) = $line =~ /\[(\d+)\]/;
	if (   defined $pid
		&& ($sub_of_pid{$pid} // '') eq 'sub_mint2'
		&& $line =~ $lost_connection)
	{
		$mint2_connection_errors++;
		next;
	}
	push @other_errors, $line;
}
$mint2_connection_errors //= 0;
note "connection errors of sub_mint2's workers while mint2 restarted: $mint2_connection_errors";
is_deeply(\@other_errors, [],
	'the aggregator logged no error but the lost connection to the restarted mint2');
my %stats = map { my ($sub, $apply, $sync) = split /\|/; ($sub => [ $apply, $sync ]) }
  split /\n/,
  $agg->safe_psql('postgres',
	'SELECT subname, apply_error_count, sync_error_count FROM pg_stat_subscription_stats');
is(join(',', sort keys %stats), 'sub_mint1,sub_mint2,sub_mint3',
	'statistics for the three subscriptions');
foreach my $name (@names)
{
	my ($apply_errors, $sync_errors) = @{ $stats{"sub_$name"} // [ -1, -1 ] };
	is($sync_errors, 0, "sub_$name: sync_error_count = 0");
	if ($name eq 'mint2')
	{
		cmp_ok($apply_errors, '<=', $mint2_connection_errors,
			"sub_$name: apply_error_count ($apply_errors) counts only the lost connections while mint2 restarted");
	}
	else
	{
		is($apply_errors, 0, "sub_$name: apply_error_count = 0");
	}
}

diag "minted and checked $total IDs in total ("
  . join(', ', map { "$_: $count{$_}" } @names) . ')';

$agg->stop;
$server{$_}->stop foreach @names;
$coord->stop;
done_testing();
