# Copyright (c) the snowflake authors
#
# gdb for the TAP tests that force an interleaving or hold a process at a
# chosen point (test/t/039_*, 041_*, 057_*, 058_*, 061_*): check that the
# library has its test points, attach to a server process, queue commands,
# wait for what gdb prints.
# Whatever happens (a failed assertion, a die), every process attached to
# is detached and left running before the framework stops the servers:
# this module's END block runs before PostgreSQL::Test::Cluster's.
#
#   my $g = gdb_attach($pid);          # skips the test if gdb cannot
#   $g->wait($g->send("break f\ncontinue"), 30);
#   $g->out;                           # everything gdb printed
#   $g->clear;                         # forget it
#   $g->detach;                        # true once gdb has detached

package GdbTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(gdb_attach gdb_require_points);

my @attached;

END
{
	foreach my $g (@attached)
	{
		$g->detach;
	}
}

my @GDB = ('gdb', '-q', '-nx', '-iex', 'set debuginfod enabled off');

# Skip the whole test unless gdb is installed.
sub require_gdb
{
	my ($version, $err) = ('', '');
	eval { IPC::Run::run([ 'gdb', '--version' ], '>', \$version, '2>', \$err); };
	plan skip_all => 'gdb is not installed' unless $version =~ /GNU gdb/;
	return;
}

# Skip the whole test unless gdb may attach to $pid and set a breakpoint at
# each test point of @points (src/generator.h: a build with
# COPT=-DSNOWFLAKE_TEST_POINTS, as scripts/test.sh makes, has them);
# $before_skip runs before a skip.  Returns what gdb said of the
# breakpoints.  gdb attaches only for the check and leaves the process
# running.
sub gdb_require_points
{
	my ($pid, $before_skip, @points) = @_;
	require_gdb();
	my ($probe, $err) = ('', '');
	IPC::Run::run([ @GDB, '-batch', '-p', $pid,
			(map { ('-ex', "break $_") } @points),
			'-ex', 'info breakpoints', '-ex', 'detach' ],
		'<', \undef, '>', \$probe, '2>', \$err, IPC::Run::timeout(60));
	if ("$probe$err" =~ /(ptrace: .*|Could not attach.*)/)
	{
		my $why = $1;
		$before_skip->();
		plan skip_all => "gdb cannot attach to a server process: $why"
		  . " (kernel.yama.ptrace_scope or a missing CAP_SYS_PTRACE)";
	}
	if ($probe =~ /Function "snowflake_test_point_\w+" not defined/)
	{
		$before_skip->();
		plan skip_all => 'the library has no test points: build it with '
		  . 'COPT=-DSNOWFLAKE_TEST_POINTS, as scripts/test.sh does';
	}
	return $probe;
}

# Attach gdb to $pid, with pagination and confirmations off and every
# signal passed on to the process without stopping it (PostgreSQL signals
# its processes for latches, timeouts, shutdown and more).  Skips the whole
# test when gdb is missing or may not attach.
sub gdb_attach
{
	my ($pid) = @_;
	require_gdb();
	my $g = bless { in => '', out => '', marks => 0, pid => $pid }, __PACKAGE__;
	$g->{timer} = IPC::Run::timer(30);
	$g->{h} = IPC::Run::start([ @GDB, '-p', $pid ],
		'<', \$g->{in}, '>&', \$g->{out}, $g->{timer});
	push @attached, $g;
	$g->wait($g->send("set pagination off\n"
		  . "set confirm off\n"
		  . "handle all nostop noprint pass\n"
		  . "handle SIGINT nostop noprint pass"), 60);
	if ($g->{out} =~ /(ptrace: .*|Could not attach.*)/)
	{
		my $why = $1;
		$g->detach;
		plan skip_all => "gdb cannot attach to a server process: $why"
		  . " (kernel.yama.ptrace_scope or a missing CAP_SYS_PTRACE)";
	}
	return $g;
}

# Queue gdb commands, then an echoed mark; returns a pattern that matches
# once gdb has run them all (a "continue" ends when the process stops).
sub send
{
	my ($g, $cmds) = @_;
	$g->{marks}++;
	$g->{in} .= "$cmds\necho gdb-mark-$g->{marks}\\n\n";
	return qr/gdb-mark-$g->{marks}\n/;
}

# Wait (at most $timeout s) until gdb's output matches $re.
sub wait
{
	my ($g, $re, $timeout) = @_;
	$g->{timer}->start($timeout // 30);
	return pump_until($g->{h}, $g->{timer}, \$g->{out}, $re);
}

# Everything gdb printed (since the last clear).
sub out { return $_[0]->{out}; }

sub clear { $_[0]->{out} = ''; return; }

# Delete every breakpoint, detach and end gdb; the process runs on.
# Returns true if gdb confirmed it had detached.  A gdb still running the
# process (a "continue" that has not stopped) reads the commands only
# once it is interrupted.
sub detach
{
	my ($g) = @_;
	return 0 unless $g->{h};
	my $ok = 0;
	if ($g->{h}->pumpable)
	{
		my $done = $g->send("delete\ndetach");
		$ok = $g->wait($done, 5);
		if (!$ok)
		{
			eval { $g->{h}->signal('INT'); };
			$ok = $g->wait($done, 10);
		}
		$g->{in} .= "quit\n";
		eval { $g->{timer}->start(10); $g->{h}->finish; };
		eval { $g->{h}->kill_kill; } if $@;
	}
	kill('CONT', $g->{pid});
	$g->{h} = undef;
	return $ok ? 1 : 0;
}

1;
