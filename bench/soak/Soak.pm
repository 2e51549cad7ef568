# Copyright (c) the snowflake authors
#
# The soak: a fleet on one machine minting under a seeded schedule of
# faults, every ID returned to a client recorded and checked for repeats.
#
# Fleet: a coordinator; minting servers a, b and c (lease timings of the
# tests, TTL 6 s, renewal every 1 s, fencing margin 2 s, times the
# timescale; 4 worker ID bits, so worker IDs are taken over from other
# holders during a long run, and 2 slots per server; a runs with
# snowflake.clock_step_policy = spare and one spare worker ID, b and c with
# the default, refuse); c has a streaming standby, which a promotion
# replaces it with (and a new standby is made of the promoted server if a
# later promotion of the run may need one).  The minting servers run under
# libfaketime, so their clocks can be stepped; each starts $CLOCK_AHEAD s
# ahead of the real clock.
#
# Clients (bench/soak/client.pl, run on the real clock): on each server one
# taking snowflake_batch(n) and one taking snowflake_nextval() per row; on b
# and c one inserting rows whose key defaults to snowflake_nextval().
#
# Faults (%CLASSES): clock steps back (5 ms, 50 ms, 10 s) and forward (1 s,
# 40 s); SIGSTOP and SIGCONT of a backend, of the lease keeper, of the
# guard, and of a whole server (postmaster and every child) past its lease;
# immediate shutdown and restart; a backend killed with SIGKILL (a crash
# restart); the coordinator stopped, restarted, and stalled (a session
# holding an ACCESS EXCLUSIVE lock on the lease table); promotion of c's
# standby with the old primary stopped first (fenced); a server restarted
# with its clock set 10 s back.  Faults run one after another; after each,
# the soak measures how long until the servers it hit mint again, then
# waits a moment before the next.
#
# The schedule is drawn from the seed before anything else runs, so a run
# can be replayed with the same seed (the interleaving with the clients, of
# course, differs).  It comes in rounds, each every class once in an order
# the seed shuffles; the soak runs the rounds asked for, then more until the
# clients have recorded target_ids IDs.
#
# Restarts and libfaketime: background workers the postmaster starts with
# the server or after a crash restart read the real clock (see fake_guard
# in test/t/SnowflakeTest.pm), so after every restart the soak restarts the
# guard and the lease keeper to put them on the server's faked clock, and
# holds that server's clients back until then (target file "pause"); on a
# real host every process reads the same clock and nothing needs doing.

package Soak;

use strict;
use warnings;

use Exporter 'import';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use IPC::Run;
use List::Util qw(max sum0);
use POSIX qw(floor);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(run_soak report_text @CLASSES);

# Every fault class, in a fixed order (the seed shuffles it).
our @CLASSES = qw(
  clock_back_5ms clock_back_50ms clock_back_10s clock_fwd_1s clock_fwd_40s
  freeze_backend freeze_keeper freeze_guard freeze_server
  immediate_restart crash_backend restart_clock_back promote
  coordinator_stop coordinator_restart coordinator_stall
);

my $CLIENT = dirname(abs_path(__FILE__)) . '/client.pl';

# Soak state.
my ($out, $coord, %node, $standby, %offset, $promotions, $harness_ids);
my @slots = qw(a b c);

sub target_file { return "$out/target_$_[0]"; }

# Point the clients of $slot at $node, or hold them back ("pause").
sub set_target
{
	my ($slot, $what) = @_;
	my $line = ref $what ? $what->host . ' ' . $what->port : $what;
	open(my $fh, '>', target_file($slot) . '.tmp') or die $!;
	print $fh "$line\n";
	close($fh);
	rename(target_file($slot) . '.tmp', target_file($slot)) or die $!;
	return;
}

# The fault schedule: $rounds rounds, each every class once in an order
# the seed shuffles; each fault a hash of class, slot (a, b or c), frac (how
# long it lasts, where it lasts, as a fraction of its range), pick (a
# number in [0, 1) for any other choice) and pause (seconds before the next
# fault), all drawn from $seed before anything else uses rand().
sub schedule
{
	my ($seed, $rounds) = @_;
	srand($seed);
	my @plan;
	foreach my $round (1 .. $rounds)
	{
		my @order = @CLASSES;
		for (my $i = $#order; $i > 0; $i--)
		{
			my $j = int(rand($i + 1));
			@order[ $i, $j ] = @order[ $j, $i ];
		}
		foreach my $class (@order)
		{
			push @plan, {
				class => $class,
				round => $round,
				slot  => $slots[ int(rand(3)) ],
				frac  => rand(),
				pick  => rand(),
				pause => 0.25 + rand(0.75),
			};
		}
	}
	return \@plan;
}

# Where every minting server's clock starts: this far ahead of the real
# one (and of the coordinator's), so that steps back leave it ahead of the
# real clock and a restart does not wait for it (see fake_workers in
# test/t/SnowflakeTest.pm).
our $CLOCK_AHEAD = 60;

# The lease timings and the fault durations scale together (run_soak's
# timescale): a frozen server must outlast its lease at any scale.
my $timescale = 1;

# snowflake.high_water_horizon of the minting servers (run_soak's horizon;
# the default when empty).
my $horizon = '';

# Duration of a fault: $lo + frac * ($hi - $lo) seconds at timescale 1.
sub span
{
	my ($f, $lo, $hi) = @_;
	return $timescale * ($lo + $f->{frac} * ($hi - $lo));
}

sub new_minting_node
{
	my ($name, %opts) = @_;
	my $n = new_fleet_node(
		$name, $coord,
		init   => $opts{init},
		leases => {
			map { $_ => ($FleetTest::FAST_LEASES{$_} =~ s/s$//r) * 1000 * $timescale . 'ms' }
			  keys %FleetTest::FAST_LEASES
		},
		conf => "snowflake.worker_bits = 4\n"
		  . "snowflake.worker_slots = 2\n"
		  . ($name eq 'a' ? "snowflake.clock_step_policy = spare\nsnowflake.spare_worker_ids = 1\n" : '')
		  . ($horizon ? "snowflake.high_water_horizon = '$horizon'\n" : '')
		  . "restart_after_crash = on\n"
		  . "log_statement = none\n"
		  . "log_line_prefix = '%m [%p] '\n");
	return $n;
}

# Start $node on its faked clock and put its workers on that clock.
sub start_node
{
	my ($node) = @_;
	$offset{ $node->name } //= $CLOCK_AHEAD;
	set_clock($node, sprintf('%+.3f', $offset{ $node->name }));
	start_faked($node, undef, 'start');
	check_clock($node);
	return;
}

sub step_clock
{
	my ($node, $by) = @_;
	$offset{ $node->name } += $by;
	set_clock($node, sprintf('%+.3f', $offset{ $node->name }));
	return;
}

# Die unless a backend of $node reads its faked clock: what it reads must
# fall between the real times before and after the query, plus the offset
# (give or take 0.2 s).
sub check_clock
{
	my ($node) = @_;
	my $off = $offset{ $node->name };
	my $before = time();
	my $got = server_clock($node) / 1e6;
	my $after = time();
	die sprintf("the clock of %s reads %.3f s, not within %.3f .. %.3f (offset %+g s)",
		$node->name, $got, $before + $off, $after + $off, $off)
	  if $got < $before + $off - 0.2 || $got > $after + $off + 0.2;
	return;
}

# PIDs of the clients' backends on $node.
sub client_backends
{
	my ($node) = @_;
	my $r = try_sql($node,
		"SELECT string_agg(pid::text, ',' ORDER BY application_name)
		   FROM pg_stat_activity WHERE application_name LIKE 'soak-%'");
	return () if $r->{ret} != 0 || $r->{out} eq '';
	return split /,/, $r->{out};
}

sub freeze_for
{
	my ($secs, @pids) = @_;
	@pids = grep { defined && $_ ne '' } @pids;
	return 0 unless @pids;
	kill('STOP', @pids);
	push @SnowflakeTest::frozen, @pids;
	usleep(int($secs * 1_000_000));
	thaw();
	return 1;
}

# Wait until the server of $node accepts connections and its guard and
# lease keeper run (after a restart or a crash restart), then put them on
# its faked clock.
sub settle_workers
{
	my ($node) = @_;
	poll_until(
		$node, "SELECT count(*) = 2 FROM pg_stat_activity
		 WHERE backend_type IN ('snowflake guard', 'snowflake lease keeper')", 60)
	  or die "the workers of " . $node->name . " did not start";
	fake_guard($node) or die "could not put the workers of " . $node->name . " on its clock";
	return;
}

# Restart $slot's server: $how is 'immediate' or 'fast'; $step moves its
# clock while it is down.
sub restart_slot
{
	my ($slot, $how, $step) = @_;
	my $node = $node{$slot};
	set_target($slot, 'pause');
	$node->stop($how);
	step_clock($node, $step) if $step;
	start_node($node);
	set_target($slot, $node);
	return "$how stop and start" . ($step ? sprintf(', clock %+g s', $step) : '');
}

# A new streaming standby of $slot's server, on its own clock (starting
# $CLOCK_AHEAD s ahead of the real one).
sub make_standby
{
	my ($slot) = @_;
	my $primary = $node{$slot};
	my $name = sprintf('%s_standby%d', $slot, $promotions + 1);
	$primary->backup("to_$name");
	my $s = PostgreSQL::Test::Cluster->new($name);
	$s->init_from_backup($primary, "to_$name", has_streaming => 1);
	$s->append_conf('postgresql.conf', "cluster_name = '$name'\n");
	start_node($s);
	return $s;
}

# Run one fault; returns (what it did, the servers it hit).
sub run_fault
{
	my ($f) = @_;
	my $slot = $f->{slot};
	my $node = $node{$slot};
	my $c = $f->{class};

	if ($c =~ /^clock_(back|fwd)_(\d+)(ms|s)$/)
	{
		my $by = $2 * ($3 eq 'ms' ? 0.001 : 1) * ($1 eq 'back' ? -1 : 1);
		step_clock($node, $by);
		check_clock($node) if abs($by) >= 1;
		return (sprintf('clock %+g s, now %+g s', $by, $offset{ $node->name }), $slot);
	}
	if ($c eq 'freeze_backend')
	{
		my @b = client_backends($node);
		return ('no client backend', $slot) unless @b;
		my $pid = $b[ floor($f->{pick} * @b) ];
		my $secs = span($f, 1, 8);
		freeze_for($secs, $pid);
		return (sprintf('backend %d stopped %.1f s', $pid, $secs), $slot);
	}
	if ($c eq 'freeze_keeper' || $c eq 'freeze_guard')
	{
		my $pid = $c eq 'freeze_keeper' ? keeper_pid($node) : guard_pid($node);
		my $secs = $c eq 'freeze_keeper' ? span($f, 2, 9) : span($f, 1, 5);
		freeze_for($secs, $pid) or return ('no worker', $slot);
		return (sprintf('%s %d stopped %.1f s', $c =~ s/freeze_//r, $pid, $secs), $slot);
	}
	if ($c eq 'freeze_server')
	{
		my $pm = postmaster_pid($node);
		my $secs = span($f, 8, 11);
		freeze_for($secs, $pm, children_of($pm));
		return (sprintf('postmaster %d and its children stopped %.1f s', $pm, $secs), $slot);
	}
	if ($c eq 'immediate_restart')
	{
		return (restart_slot($slot, 'immediate'), $slot);
	}
	if ($c eq 'restart_clock_back')
	{
		return (restart_slot($slot, 'fast', -10), $slot);
	}
	if ($c eq 'crash_backend')
	{
		my @b = client_backends($node);
		return ('no client backend', $slot) unless @b;
		my $pid = $b[ floor($f->{pick} * @b) ];
		my $guard = guard_pid($node);
		set_target($slot, 'pause');
		kill('KILL', $pid);
		poll_until(
			$node, "SELECT count(*) = 1 FROM pg_stat_activity
			 WHERE backend_type = 'snowflake guard' AND pid <> $guard", 60)
		  or die "no crash restart on $slot";
		settle_workers($node);
		set_target($slot, $node);
		return ("backend $pid killed (SIGKILL), crash restart", $slot);
	}
	if ($c eq 'promote')
	{
		my $old = $node{c};
		set_target('c', 'pause');
		$old->stop('immediate');
		$standby->promote;
		poll_until($standby, 'SELECT NOT pg_is_in_recovery()', 60)
		  or die "the standby of c was not promoted";
		$node{c} = $standby;
		set_target('c', $standby);
		$promotions++;
		my $what = sprintf('%s fenced (stopped), %s promoted', $old->name, $standby->name);
		$standby = $f->{new_standby} ? make_standby('c') : undef;
		return ($what, 'c');
	}
	if ($c eq 'coordinator_stop')
	{
		my $secs = span($f, 1, 8);
		$coord->stop('fast');
		usleep(int($secs * 1_000_000));
		$coord->start;
		return (sprintf('coordinator down %.1f s', $secs), @slots);
	}
	if ($c eq 'coordinator_restart')
	{
		$coord->restart;
		return ('coordinator restarted', @slots);
	}
	if ($c eq 'coordinator_stall')
	{
		my $secs = span($f, 1, 8);
		my ($o, $e) = ('', '');
		IPC::Run::run(
			[   'psql', '-X', '-q', '-h', $coord->host, '-p', $coord->port, '-d', 'postgres',
				'-c', sprintf('BEGIN; LOCK TABLE snowflake_state.worker_lease IN ACCESS EXCLUSIVE MODE;'
					  . ' SELECT pg_sleep(%.3f); COMMIT;', $secs)
			],
			'<', \undef, '>', \$o, '2>', \$e);
		return (sprintf('lease table locked %.1f s', $secs), @slots);
	}
	die "unknown fault class $c";
}

# Seconds from $since until each server of @hit minted an ID (polled in
# turn, every 20 ms), or undef for one that did not within 120 s.  The IDs
# go into the harness's own file, with the clients'.
sub resume_times
{
	my ($since, @hit) = @_;
	my %resume;
	my %pending = map { $_ => 1 } @hit;
	while (%pending && time() - $since < 120)
	{
		foreach my $s (sort keys %pending)
		{
			my $r = try_sql($node{$s}, 'SELECT snowflake_nextval()', timeout => 10);
			next if $r->{ret} != 0;
			print $harness_ids sprintf("%019d\n", $r->{out});
			$resume{$s} = time() - $since;
			delete $pending{$s};
		}
		usleep(20_000) if %pending;
	}
	$resume{$_} = undef foreach keys %pending;
	return %resume;
}

# Total IDs the clients recorded so far.
sub recorded_ids
{
	return sum0(map { -s $_ } glob("$out/clients/*.ids")) / 20;
}

# Run the soak.  %opts: seed; rounds (of every fault class, default 1);
# target_ids (after those rounds, go on with more until the clients have
# recorded this many IDs; default 0); max_batch (the largest
# snowflake_batch(n) a client asks for; per-row statements take a quarter
# of that; default 100); timescale (1 by default: the lease timings of
# %FAST_LEASES and fault durations of 1 to 11 s; less scales both down);
# horizon (snowflake.high_water_horizon of the minting servers, e.g.
# '100ms'; the default if not given); dir (where the IDs go).  Returns the
# report, a hash.
sub run_soak
{
	my (%opts) = @_;
	my $seed = $opts{seed};
	my $rounds = $opts{rounds} // 1;
	my $target = $opts{target_ids} // 0;
	my $max_batch = $opts{max_batch} // 100;
	$timescale = $opts{timescale} // 1;
	$horizon = $opts{horizon} // '';
	$out = $opts{dir};
	my $plan = schedule($seed, $target ? 1000 : $rounds);
	# Every round promotes once; the last one the run is sure to reach needs
	# no standby after it.
	$_->{new_standby} = ($target || $_->{round} < $rounds)
	  foreach grep { $_->{class} eq 'promote' } @$plan;
	make_path("$out/clients");
	note "soak seed $seed: $rounds round(s) of every fault class"
	  . ($target ? ", then more until $target IDs" : '');
	$promotions = 0;

	$coord = new_coordinator('coord');
	$coord->append_conf('postgresql.conf', "log_statement = none\n");
	$coord->reload;
	$node{a} = new_minting_node('a');
	$node{b} = new_minting_node('b');
	$node{c} = new_minting_node('c', init => { allows_streaming => 1 });
	foreach my $s (@slots)
	{
		start_node($node{$s});
		$node{$s}->safe_psql('postgres', 'CREATE EXTENSION snowflake');
		set_target($s, $node{$s});
	}
	$standby = make_standby('c');

	my $stop = "$out/stop";
	my @clients;
	my $i = 0;
	foreach my $s (@slots)
	{
		foreach my $mode ('batch', 'row', ($s ne 'a' ? ('insert') : ()))
		{
			my $name = "$s-$mode";
			push @clients,
			  IPC::Run::start(
				[ 'perl', $CLIENT, $name, $mode, target_file($s), "$out/clients", $stop,
					$seed * 100 + $i++, $max_batch, ($s eq 'a' ? 'spare' : 'strict') ],
				'<', \undef, '>', "$out/clients/$name.out", '2>', "$out/clients/$name.err");
		}
	}
	open($harness_ids, '>', "$out/clients/harness.ids") or die $!;
	$harness_ids->autoflush(1);

	my $t_start = time();
	usleep(3_000_000);
	my @done;
	my $errors = 0;
	foreach my $f (@$plan)
	{
		last if $f->{round} > $rounds && recorded_ids() >= $target;
		my $t0 = time();
		my ($what, @hit) = eval { run_fault($f) };
		if ($@)
		{
			diag "fault $f->{class} on $f->{slot}: $@";
			$errors++;
			($what, @hit) = ("harness error: $@", @slots);
			thaw();
		}
		last if $errors;
		my $t1 = time();
		my %resume = resume_times($t1, @hit);
		my $worst = max(map { $_ // 1e9 } values %resume);
		push @done, { %$f, what => $what, t0 => $t0, t1 => $t1, resume => \%resume,
			worst => $worst };
		note sprintf('%7.1f s  %-20s %s  %s; minting again after %s',
			$t0 - $t_start, $f->{class}, join('', @hit), $what,
			join(', ', map { "$_ " . (defined $resume{$_} ? sprintf('%.3f s', $resume{$_}) : 'NEVER') } sort keys %resume));
		usleep(int($f->{pause} * 1_000_000));
	}
	my $fault_secs = time() - $t_start;

	# Stop the clients, then check what they recorded.
	open(my $fh, '>', $stop) or die $!;
	close($fh);
	foreach my $h (@clients)
	{
		eval { $h->finish; 1 } or $h->kill_kill;
	}
	close($harness_ids);
	my $report = check($out, $fault_secs, \@done);
	$report->{seed} = $seed;
	$report->{timescale} = $timescale;
	$report->{horizon} = $horizon;
	$report->{harness_errors} = $errors;
	$report->{crashes} = unexpected_crashes();
	return $report;
}

# Lines of the server logs that show a process dying of a signal other
# than the SIGKILL the soak sends, or a PANIC.
sub unexpected_crashes
{
	my @lines;
	foreach my $log (glob("$PostgreSQL::Test::Utils::log_path/*.log"))
	{
		open(my $fh, '<', $log) or next;
		while (<$fh>)
		{
			push @lines, $_ if /terminated by signal (?!9:)\d+|PANIC:/;
		}
		close($fh);
	}
	return \@lines;
}

# Check the recorded IDs (every one distinct: a sort of all of them; each
# session's IDs increasing: checked by the clients as they went) and sum up
# the clients' logs and the faults.
sub check
{
	my ($dir, $fault_secs, $done) = @_;
	my %r = (fault_seconds => $fault_secs, faults => scalar(@$done));
	my $sorted = "$dir/all.sorted";
	my $t0 = time();
	system('sh', '-c',
		"LC_ALL=C sort -S 25% --parallel=2 -T '$dir' -o '$sorted' '$dir'/clients/*.ids") == 0
	  or die "sort failed";
	$r{ids} = (-s $sorted) / 20;
	my @dups = `LC_ALL=C uniq -d '$sorted' | head -n 20`;
	chomp @dups;
	$r{duplicate_examples} = \@dups;
	$r{duplicates} = 0 + `LC_ALL=C uniq -d '$sorted' | wc -l`;
	$r{check_seconds} = time() - $t0;
	unlink $sorted;

	my (%states, %longest, $order, @order_examples, $statements, %ok_at, $below);
	foreach my $log (glob("$dir/clients/*.log"))
	{
		my ($client) = $log =~ m{/([^/]+)\.log$};
		my $refusing;
		open(my $fh, '<', $log) or die $!;
		while (<$fh>)
		{
			my ($t0, $t1, $kind, @rest) = split;
			if ($kind eq 'ok')
			{
				$statements++;
				push @{ $ok_at{ $client =~ s/-.*//r } }, $t1;
				if (defined $refusing)
				{
					my $len = $t1 - $refusing;
					$longest{$client} = $len if $len > ($longest{$client} // 0);
					undef $refusing;
				}
			}
			elsif ($kind eq 'err' || $kind eq 'conn')
			{
				$states{ $kind eq 'conn' ? "connection ($rest[0])" : $rest[0] }++;
				$refusing //= $t0;
			}
			elsif ($kind eq 'below')
			{
				$below++;
			}
			elsif ($kind eq 'order')
			{
				$order++;
				push @order_examples, "$client: $rest[0] then $rest[1]" if @order_examples < 10;
			}
		}
		close($fh);
	}
	$r{statements} = $statements // 0;
	$r{refusals} = \%states;
	$r{longest_refusal} = \%longest;
	$r{order_violations} = $order // 0;
	$r{spare_decreases} = $below // 0;
	$r{order_examples} = \@order_examples;

	# For each fault, when the clients of each server it hit next got IDs.
	@$_ = sort { $a <=> $b } @$_ foreach values %ok_at;
	foreach my $f (@$done)
	{
		my @after;
		foreach my $s (keys %{ $f->{resume} })
		{
			my $t = $ok_at{$s} // [];
			my ($lo, $hi) = (0, scalar @$t);
			while ($lo < $hi)
			{
				my $mid = int(($lo + $hi) / 2);
				if ($t->[$mid] < $f->{t1}) { $lo = $mid + 1 } else { $hi = $mid }
			}
			push @after, $lo < @$t ? $t->[$lo] - $f->{t1} : 1e9;
		}
		$f->{clients_worst} = max(@after, 0);
	}

	my %by;
	foreach my $f (@$done)
	{
		my $c = $by{ $f->{class} } //= { count => 0, resume => [], clients => [], length => [] };
		$c->{count}++;
		push @{ $c->{resume} }, $f->{worst};
		push @{ $c->{clients} }, $f->{clients_worst};
		push @{ $c->{length} }, $f->{t1} - $f->{t0};
	}
	$r{classes} = \%by;
	$r{log} = $done;
	return \%r;
}

# The report as text.
sub report_text
{
	my ($r) = @_;
	my $t = sprintf("seed %s: %d IDs recorded and checked, %d duplicates, %d order violations\n",
		$r->{seed}, $r->{ids}, $r->{duplicates}, $r->{order_violations});
	$t .= sprintf("%d faults in %.0f s (timescale %g, high_water_horizon %s); %d statements returned IDs; sort check %.0f s\n",
		$r->{faults}, $r->{fault_seconds}, $r->{timescale}, $r->{horizon} || 'default',
		$r->{statements}, $r->{check_seconds});
	$t .= sprintf("server a (clock_step_policy = spare): %d times a session's next ID was below its previous one (minting on a spare after a step back)\n",
		$r->{spare_decreases});
	$t .= "duplicate: $_\n" foreach @{ $r->{duplicate_examples} };
	$t .= "order: $_\n" foreach @{ $r->{order_examples} };
	$t .= "\nSeconds, median/max over the faults of a class: how long the fault\n"
	  . "lasted (for a restart, until the server's workers run on its clock);\n"
	  . "from its end until a fresh session minted on every server it hit;\n"
	  . "from its end until the clients of those servers next got IDs.\n";
	$t .= sprintf("%-21s %5s %15s %17s %17s\n", 'fault class', 'count', 'lasted', 'fresh session', 'clients');
	my $mm = sub {
		my @s = sort { $a <=> $b } @{ $_[0] };
		return sprintf('%7.3f/%-7.3f', $s[ $#s / 2 ], $s[-1]);
	};
	foreach my $c (@CLASSES)
	{
		my $by = $r->{classes}{$c} or next;
		$t .= sprintf("%-21s %5d %17s %17s %17s\n", $c, $by->{count},
			$mm->($by->{length}), $mm->($by->{resume}), $mm->($by->{clients}));
	}
	$t .= "\nrefusals seen by clients\n";
	$t .= sprintf("  %-32s %d\n", $_, $r->{refusals}{$_}) foreach sort keys %{ $r->{refusals} };
	$t .= "longest refusal per client (s)\n";
	$t .= sprintf("  %-12s %.3f\n", $_, $r->{longest_refusal}{$_})
	  foreach sort keys %{ $r->{longest_refusal} };
	$t .= sprintf("harness errors: %d; unexpected process deaths in the logs: %d\n",
		$r->{harness_errors}, scalar @{ $r->{crashes} });
	$t .= "  $_" foreach @{ $r->{crashes} };
	return $t;
}

1;
