
# Copyright (c) the snowflake authors
#
# An HA coordinator on the real stack (docs/fleet.md, "An HA coordinator"),
# everything on 127.0.0.1 and under tmp_check: a 3-member etcd cluster, two
# PostgreSQL servers managed by Patroni with synchronous_mode, and three
# minting servers whose snowflake.coordinator names both coordinator nodes
# (host=a,b target_session_attrs=read-write), each under pgbench load.
#
# Each cycle (one in the short version run by installcheck; three with
# SNOWFLAKE_HA_FULL=1, as `make ha-test` does):
#
# 1. a crash: SIGKILL of the Patroni leader's postmaster, then of its
#    Patroni; the synchronous standby takes over once the leader key
#    expires (Patroni ttl 10 s), longer than the minting servers' fencing
#    window allows (lease TTL 12 s, margin 4 s, renewal every 1 s: an outage
#    of up to about 7 s costs nothing), so they refuse (SF003) for a while
#    and resume by themselves; the killed node comes back as a standby;
# 2. a switchover with patronictl, which is quick: the keepers reconnect to
#    the new leader within the fencing margin.
#
# Throughout, the keepers keep their leases (same worker IDs, same fencing
# tokens: nothing is taken again without the floor), no ID repeats across
# the fleet, and no worker ID is used by two servers at once: not in any
# snapshot of the servers' held leases, and not in the IDs themselves (for
# each worker ID, the milliseconds minted by different servers never
# interleave).  The refusal window of each server in each failover is
# printed.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Path qw(make_path);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

my %bin;
foreach my $prog (qw(patroni patronictl etcd etcdctl pg_ctl))
{
	my ($dir) = grep { -x "$_/$prog" } split /:/, $ENV{PATH};
	plan skip_all => "$prog is not installed (scripts/install-deps.sh installs patroni, etcd-server and etcd-client)"
	  unless defined $dir;
	$bin{$prog} = "$dir/$prog";
}
# Patroni runs the PostgreSQL the tests run with.
(my $pg_bindir = $bin{pg_ctl}) =~ s{/pg_ctl$}{};

my $FULL   = $ENV{SNOWFLAKE_HA_FULL} ? 1 : 0;
my $CYCLES = $FULL ? 3 : 1;
my $SLOTS  = 2;
my $START  = time();

my $base = "${PostgreSQL::Test::Utils::tmp_check}/ha_patroni";
make_path($base);
my $sockdir = PostgreSQL::Test::Utils::tempdir_short();

############################################################################
# Processes started here, and stopping them whatever happens.
############################################################################

my %proc;       # name => PID of etcd and Patroni processes
my @harness;    # IPC::Run harnesses (pgbench)
my @pg_data;    # data directories of the Patroni-managed servers

sub spawn
{
	my ($name, $log, @cmd) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $log) or POSIX::_exit(127);
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or POSIX::_exit(127);
	}
	$proc{$name} = $pid;
	note "started $name (PID $pid): @cmd";
	return $pid;
}

sub reap
{
	foreach my $name (keys %proc)
	{
		delete $proc{$name} if waitpid($proc{$name}, WNOHANG) == $proc{$name};
	}
}

# Wait up to $secs for the processes of %proc named in @names to exit.
sub wait_gone
{
	my ($secs, @names) = @_;
	my $deadline = time() + $secs;
	while (time() < $deadline)
	{
		reap();
		return 1 unless grep { exists $proc{$_} } @names;
		usleep(100_000);
	}
	return 0;
}

# The postmaster of a Patroni-managed data directory, if it runs.
sub postmaster_of
{
	my ($data) = @_;
	open(my $fh, '<', "$data/postmaster.pid") or return undef;
	my $pid = <$fh>;
	close($fh);
	return undef unless defined $pid && $pid =~ /^(\d+)/;
	$pid = $1;
	open(my $cf, '<', "/proc/$pid/cmdline") or return undef;
	my $cmd = do { local $/; <$cf> };
	close($cf);
	return (defined $cmd && index($cmd, $data) >= 0) ? $pid : undef;
}

sub stop_everything
{
	foreach my $h (@harness)
	{
		eval { $h->kill_kill; 1 };
	}
	@harness = ();
	my @patroni = grep { /^patroni/ } keys %proc;
	kill('TERM', map { $proc{$_} } @patroni);
	wait_gone(30, @patroni);
	kill('KILL', map { $proc{$_} } grep { exists $proc{$_} } @patroni);
	foreach my $data (@pg_data)
	{
		my $pm = postmaster_of($data);
		next unless $pm;
		kill('QUIT', $pm);
		my $deadline = time() + 10;
		usleep(100_000) while postmaster_of($data) && time() < $deadline;
		kill('KILL', $pm) if postmaster_of($data);
	}
	my @etcd = grep { /^etcd/ } keys %proc;
	kill('TERM', map { $proc{$_} } @etcd);
	wait_gone(10, @etcd);
	kill('KILL', map { $proc{$_} } grep { exists $proc{$_} } @etcd);
	wait_gone(5, keys %proc);
	return;
}

END
{
	my $rc = $?;
	stop_everything() if %proc || @harness;
	$? = $rc;
}
$SIG{INT} = $SIG{TERM} = sub { die "interrupted\n" };

############################################################################
# etcd: three members.
############################################################################

my @etcd = map { { name => "etcd$_", client => PostgreSQL::Test::Cluster::get_free_port(),
	peer => PostgreSQL::Test::Cluster::get_free_port() } } 1 .. 3;
my $initial = join(',', map { "$_->{name}=http://127.0.0.1:$_->{peer}" } @etcd);
my $endpoints = join(',', map { "127.0.0.1:$_->{client}" } @etcd);
foreach my $e (@etcd)
{
	spawn($e->{name}, "$base/$e->{name}.log", $bin{etcd},
		'--name', $e->{name},
		'--data-dir', "$base/$e->{name}.data",
		'--listen-client-urls', "http://127.0.0.1:$e->{client}",
		'--advertise-client-urls', "http://127.0.0.1:$e->{client}",
		'--listen-peer-urls', "http://127.0.0.1:$e->{peer}",
		'--initial-advertise-peer-urls', "http://127.0.0.1:$e->{peer}",
		'--initial-cluster', $initial,
		'--initial-cluster-state', 'new',
		'--initial-cluster-token', "snowflake-ha-test-$$",
		# a busy test machine must not make the members elect and re-elect
		'--heartbeat-interval', '250', '--election-timeout', '2500');
}

my $sample;    # sub taking a snapshot of the leases held, once there are minting servers

sub poll
{
	my ($secs, $what, $code) = @_;
	my $deadline = time() + $secs;
	while (1)
	{
		$sample->() if $sample;
		my $r = $code->();
		return $r if $r;
		last if time() > $deadline;
		usleep(250_000);
	}
	note "timed out after $secs s waiting for: $what";
	return undef;
}

sub run_quiet
{
	my ($timeout, @cmd) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout($timeout));
	};
	return wantarray ? ($ok, $out, $err) : ($ok ? $out : undef);
}

ok( poll(60, 'a healthy etcd cluster',
		sub {
			my ($ok) = run_quiet(10, $bin{etcdctl}, '--endpoints', $endpoints,
				'endpoint', 'health', '--cluster');
			return $ok;
		}),
	'etcd: three healthy members');

############################################################################
# Two coordinator nodes under Patroni.
############################################################################

my @pg = map {
	{
		name => "coord$_",
		port => PostgreSQL::Test::Cluster::get_free_port(),
		rest => PostgreSQL::Test::Cluster::get_free_port(),
		dir  => "$base/coord$_",
	}
} 1 .. 2;
my %pg_by_name = map { $_->{name} => $_ } @pg;
my $scope = "snowflake-ha-$$";

foreach my $n (@pg)
{
	make_path($n->{dir});
	chmod(0700, $n->{dir});
	$n->{data} = "$n->{dir}/data";
	push @pg_data, $n->{data};
	$n->{config} = "$n->{dir}/patroni.yml";
	open(my $fh, '>', $n->{config}) or die "could not write $n->{config}: $!";
	print $fh <<"EOF";
scope: $scope
namespace: /snowflake-test/
name: $n->{name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$n->{rest}
  connect_address: 127.0.0.1:$n->{rest}
etcd3:
  hosts: $endpoints
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
      parameters:
        synchronous_commit: 'on'
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 5
        max_replication_slots: 5
        wal_log_hints: 'on'
  initdb:
    - encoding: UTF8
    - locale: C
postgresql:
  listen: 127.0.0.1:$n->{port}
  connect_address: 127.0.0.1:$n->{port}
  data_dir: $n->{data}
  bin_dir: $pg_bindir
  pgpass: $n->{dir}/pgpass
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: '$sockdir'
    max_connections: 50
    shared_buffers: 16MB
EOF
	close($fh);
}

sub start_patroni
{
	my ($n) = @_;
	spawn("patroni_$n->{name}", "$n->{dir}/patroni.log", $bin{patroni}, $n->{config});
}

my $http = HTTP::Tiny->new(timeout => 3);

# Patroni's view of node $n: a hash (role, state, ...) or undef.
sub patroni_status
{
	my ($n) = @_;
	my $r = $http->get("http://127.0.0.1:$n->{rest}/patroni");
	return undef unless $r->{success};
	return eval { decode_json($r->{content}) };
}

sub is_leader
{
	my ($n) = @_;
	my $s = patroni_status($n);
	return $s && $s->{state} eq 'running'
	  && ($s->{role} eq 'master' || $s->{role} eq 'primary');
}

# Run SQL on a coordinator node as its superuser; undef on failure.
sub coord_sql
{
	my ($n, $sql) = @_;
	my $out = run_quiet(15, "$pg_bindir/psql", '-XAtq', '-v', 'ON_ERROR_STOP=1',
		'-h', '127.0.0.1', '-p', $n->{port}, '-U', 'postgres', '-d', 'postgres',
		'-c', $sql);
	chomp $out if defined $out;
	return $out;
}

sub leader
{
	my ($n) = grep { is_leader($_) } @pg;
	return $n;
}

sub other
{
	my ($n) = @_;
	my ($o) = grep { $_ != $n } @pg;
	return $o;
}

# The leader's other node is its synchronous standby: streaming, in sync,
# and named so in the DCS (Patroni's /sync answers 200), which a switchover
# needs.
sub sync_standby_ok
{
	my ($lead) = @_;
	my $o = other($lead);
	my $s = coord_sql($lead,
		"SELECT count(*) FROM pg_stat_replication
		  WHERE application_name = '$o->{name}' AND state = 'streaming' AND sync_state = 'sync'");
	return 0 unless defined $s && $s eq '1';
	return $http->get("http://127.0.0.1:$o->{rest}/sync")->{status} == 200;
}

start_patroni($pg[0]);
my $lead = poll(90, 'the first Patroni node to lead', sub { leader() });
ok($lead, 'Patroni bootstrapped a leader') or BAIL_OUT('no Patroni leader');
start_patroni($pg[1]);
ok(poll(120, 'a synchronous standby', sub { sync_standby_ok($lead) }),
	"Patroni: $lead->{name} leads, " . other($lead)->{name} . ' is its synchronous standby');

# The coordinator database, as docs/fleet.md prepares it.
is( coord_sql($lead,
		"CREATE ROLE snowflake_fleet LOGIN;
		 CREATE SCHEMA snowflake_state AUTHORIZATION snowflake_fleet;
		 SELECT 'ok'"),
	'ok', 'the coordinator has its role and schema');

############################################################################
# Three minting servers under pgbench load.
############################################################################

my $coord_conninfo = sprintf(
	'host=127.0.0.1,127.0.0.1 port=%d,%d dbname=postgres user=snowflake_fleet target_session_attrs=read-write',
	$pg[0]{port}, $pg[1]{port});
my @names = qw(mint1 mint2 mint3);
my %node;
foreach my $name (@names)
{
	my $node = new_node(
		$name, conf => <<"EOF");
snowflake.coordinator = '$coord_conninfo'
cluster_name = '$name'
snowflake.worker_slots = $SLOTS
snowflake.lease_ttl = '12s'
snowflake.lease_renew_interval = '1s'
snowflake.fencing_margin = '4s'
EOF
	$node->start;
	setup_ids($node);
	$node->safe_psql(
		'postgres', q{
		CREATE TABLE refused (at timestamptz NOT NULL, state text NOT NULL);
		CREATE FUNCTION mint_once(client_no integer) RETURNS void
		LANGUAGE plpgsql AS $$
		DECLARE
			st text;
		BEGIN
			INSERT INTO ids (run, client, id) VALUES (1, client_no, snowflake_nextval());
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
			INSERT INTO refused VALUES (clock_timestamp(), st);
		END $$;
	});
	$node{$name} = $node;
}
foreach my $name (@names)
{
	ok(wait_for_mint($node{$name}, timeout => 60)->{ok}, "$name mints");
	ok( poll_until(
			$node{$name},
			"SELECT count(*) FILTER (WHERE lease_state = 'held') = $SLOTS FROM snowflake_status",
			30),
		"$name holds a lease on each slot");
}

my $rows_sql = q{
	SELECT string_agg(worker_id || ':' || holder_cluster_name || ':' || fencing_token, ','
	                  ORDER BY worker_id)
	  FROM snowflake_state.worker_lease WHERE released_at IS NULL};
my $leases_before = coord_sql($lead, $rows_sql);
note "leases: $leases_before";
is(scalar(split /,/, $leases_before), 3 * $SLOTS, 'the coordinator has 6 live leases');

foreach my $name (@names)
{
	my $node   = $node{$name};
	my $script = $node->basedir . '/mint_once.sql';
	open(my $fh, '>', $script) or die "could not write $script: $!";
	print $fh "SELECT mint_once(:client_id);\n";
	close($fh);
	my ($out, $err) = ('', '');
	local $ENV{PGHOST}     = $node->host;
	local $ENV{PGPORT}     = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	# 2 clients, at most 150 transactions a second: a steady load that
	# leaves the 2-core machine room for etcd and Patroni's timing.
	push @harness,
	  IPC::Run::start(
		[ 'pgbench', '-n', '-c', 2, '-j', 1, '-R', 150, '-T', 900, '-f', $script ],
		'<', \undef, '>', \$out, '2>', \$err);
	$node->{pgbench_err} = \$err;
}

# Snapshots of the worker IDs each server holds, checked as they are taken.
my $snapshots  = 0;
my $double_use = 0;
sub snapshot
{
	my %holder;
	foreach my $name (@names)
	{
		my $r = try_sql($node{$name},
			"SELECT string_agg(worker_id::text, ',') FROM snowflake_status WHERE lease_state = 'held'");
		next unless $r->{ret} == 0;
		push @{ $holder{$_} }, $name foreach split /,/, $r->{out};
	}
	foreach my $w (keys %holder)
	{
		next unless @{ $holder{$w} } > 1;
		$double_use++;
		diag "worker ID $w held by @{ $holder{$w} } at once";
	}
	$snapshots++;
	return;
}
$sample = \&snapshot;

sub id_count
{
	my ($name) = @_;
	return $node{$name}->safe_psql('postgres', 'SELECT count(*) FROM ids');
}

# Every server mints again: its count of IDs grows past what it was.
sub all_mint_again
{
	my %count = map { $_ => id_count($_) } @names;
	return poll(
		120,
		'every server to mint again',
		sub {
			return !grep { id_count($_) <= $count{$_} + 20 } @names;
		});
}

ok(all_mint_again(), 'all three servers mint under load');

############################################################################
# Failovers.
############################################################################

my @failovers;    # { what, start, leader_at, minting_at }

for my $cycle (1 .. $CYCLES)
{
	# (1) crash of the leader: its postmaster, then its Patroni
	$lead = poll(60, 'a leader', sub { leader() });
	my $old = $lead;
	my $new = other($old);
	ok(poll(120, 'a synchronous standby', sub { sync_standby_ok($old) }),
		"cycle $cycle: $new->{name} is in sync before the crash");
	my $pm = postmaster_of($old->{data});
	my $f = { what => "crash of $old->{name}'s postmaster and Patroni (cycle $cycle)",
		start => time() };
	kill('KILL', $pm);
	kill('KILL', $proc{"patroni_$old->{name}"});
	wait_gone(10, "patroni_$old->{name}");
	note "killed $old->{name}: postmaster $pm and its Patroni";
	ok(poll(90, "$new->{name} to lead", sub { is_leader($new) }),
		"cycle $cycle: $new->{name} took over after the crash");
	$f->{leader_at} = time();
	ok(all_mint_again(), "cycle $cycle: every server mints again after the crash");
	$f->{minting_at} = time();
	push @failovers, $f;

	# the killed node comes back as a standby
	start_patroni($old);
	ok(poll(180, 'the old leader back in sync', sub { sync_standby_ok($new) }),
		"cycle $cycle: $old->{name} is back as the synchronous standby");

	# (2) switchover back to it
	$f = { what => "switchover from $new->{name} to $old->{name} (cycle $cycle)", start => time() };
	my ($ok, $out, $err) = run_quiet(120, $bin{patronictl}, '-c', $new->{config},
		'switchover', '--leader', $new->{name}, '--candidate', $old->{name},
		'--force', $scope);
	like($out // '', qr/Successfully switched over/, "cycle $cycle: patronictl switchover")
	  or diag "$out\n$err";
	ok(poll(60, "$old->{name} to lead", sub { is_leader($old) }),
		"cycle $cycle: $old->{name} leads after the switchover");
	$f->{leader_at} = time();
	ok(all_mint_again(), "cycle $cycle: every server mints again after the switchover");
	$f->{minting_at} = time();
	push @failovers, $f;
}

# a last stretch of load on the final leader
ok(all_mint_again(), 'all servers mint at the end');
foreach my $h (@harness)
{
	$h->kill_kill;
}
@harness = ();
foreach my $name (@names)
{
	unlike(${ $node{$name}{pgbench_err} }, qr/aborted/, "$name: no pgbench client aborted");
}

############################################################################
# What the fleet minted.
############################################################################

$lead = leader();
my $leases_after = coord_sql($lead, $rows_sql);
note "leases at the end: $leases_after";
is($leases_after, $leases_before,
	'every lease survived the failovers: same worker IDs, holders and fencing tokens');

my (%seen, %ranges);
my $total = 0;
my $dups  = 0;
foreach my $name (@names)
{
	check_ids($node{$name}, $name);
	my $rows = $node{$name}->safe_psql('postgres',
		"SELECT id, snowflake_worker_id(id),
		        (extract(epoch FROM snowflake_timestamp(id)) * 1000)::bigint
		   FROM ids");
	foreach my $line (split /\n/, $rows)
	{
		my ($id, $w, $ms) = split /\|/, $line;
		$total++;
		$dups++ if $seen{$id}++;
		my $r = $ranges{$w}{$name} //= [ $ms, $ms ];
		$r->[0] = $ms if $ms < $r->[0];
		$r->[1] = $ms if $ms > $r->[1];
	}
}
note "IDs checked across the fleet: $total";
cmp_ok($total, '>', 1000, 'the fleet minted IDs under load');
is($dups, 0, 'no ID repeats across the fleet');

# For each worker ID, the servers that minted with it did so in disjoint
# stretches of time.
my $overlaps = 0;
foreach my $w (sort { $a <=> $b } keys %ranges)
{
	my @by = sort { $ranges{$w}{$a}[0] <=> $ranges{$w}{$b}[0] } keys %{ $ranges{$w} };
	for my $i (1 .. $#by)
	{
		next if $ranges{$w}{ $by[$i] }[0] > $ranges{$w}{ $by[ $i - 1 ] }[1];
		$overlaps++;
		diag "worker ID $w: $by[$i-1] and $by[$i] minted in overlapping time";
	}
}
is($overlaps, 0, 'no worker ID minted by two servers at overlapping times');
cmp_ok($snapshots, '>', 20, "held leases sampled ($snapshots snapshots)");
is($double_use, 0, 'no snapshot shows a worker ID held by two servers');

# The refusal window of each server in each failover.
my @report;
for my $i (0 .. $#failovers)
{
	my $f    = $failovers[$i];
	my $from = $f->{start};
	my $to   = $i < $#failovers ? $failovers[ $i + 1 ]{start} : time();
	push @report,
	  sprintf("%s: new leader after %.1f s, every server minting again after %.1f s",
		$f->{what}, $f->{leader_at} - $from, $f->{minting_at} - $from);
	foreach my $name (@names)
	{
		my ($n, $first, $last, $states) = split /\|/,
		  $node{$name}->safe_psql(
			'postgres',
			"SELECT count(*), coalesce(extract(epoch FROM min(at))::text, ''),
			        coalesce(extract(epoch FROM max(at))::text, ''),
			        coalesce(string_agg(DISTINCT state, ','), '')
			   FROM refused WHERE at >= to_timestamp($from) AND at < to_timestamp($to)");
		push @report,
		  $n == 0
		  ? "  $name: no refusal"
		  : sprintf("  %s: refused %d calls (%s) from +%.1f s to +%.1f s: a window of %.1f s",
			$name, $n, $states, $first - $from, $last - $from, $last - $first);
		like($states, qr/^(SF003)?$/,
			"$name refused only past its fencing deadline (SF003) in: $f->{what}");
	}
}
my $lost = 0;
foreach my $name (@names)
{
	my $log = slurp_file($node{$name}->logfile);
	$lost += () = $log =~ /lost the lease/g;
}
is($lost, 0, 'no keeper lost a lease');
note $_ foreach @report;
note sprintf("%d failovers, %d IDs checked, %.0f s in all", scalar(@failovers), $total,
	time() - $START);

# Stop the minting servers first: their keepers release their leases.
$node{$_}->stop foreach @names;
is(coord_sql(leader(), 'SELECT count(*) FROM snowflake_state.worker_lease WHERE released_at IS NULL'),
	'0', 'the minting servers released their leases at shutdown');
stop_everything();
done_testing();
