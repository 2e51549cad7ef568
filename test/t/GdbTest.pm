# Copyright (c) the snowflake authors
#
# gdb for the TAP tests that force an interleaving (test/t/057_*, 058_*):
# attach to a server process, queue commands, wait for what gdb prints.
# Whatever happens (a failed assertion, a die), every process attached to
# is detached and left running before the framework stops the servers:
# this module's END block runs before PostgreSQL::Test::Cluster's.
#
#   my $g = gdb_attach($pid);          # skips the test if gdb cannot
#   $g->wait($g->send("break f\ncontinue"), 30);
#   $g->out;                           # everything gdb printed
#   $g->detach;

package GdbTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(gdb_attach);

my @attached;

END
{
	foreach my $g (@attached)
	{
		$g->detach;
	}
}

# Attach gdb to $pid, with pagination off and the signals PostgreSQL uses
# between its processes passed on without stopping.  Skips the whole test
# when gdb is missing or may not attach.
sub gdb_attach
{
	my ($pid) = @_;
	my ($version, $err) = ('', '');
	eval { IPC::Run::run([ 'gdb', '--version' ], '>', \$version, '2>', \$err); };
	plan skip_all => 'gdb is not installed' unless $version =~ /GNU gdb/;
	my $g = bless { in => '', out => '', marks => 0, pid => $pid }, __PACKAGE__;
	$g->{timer} = IPC::Run::timer(30);
	$g->{h} = IPC::Run::start(
		[ 'gdb', '-q', '-nx', '-iex', 'set debuginfod enabled off', '-p', $pid ],
		'<', \$g->{in}, '>&', \$g->{out}, $g->{timer});
	push @attached, $g;
	$g->wait($g->send("set pagination off\n"
		  . "handle SIGTERM nostop noprint pass\n"
		  . "handle SIGUSR1 nostop noprint pass\n"
		  . "handle SIGUSR2 nostop noprint pass\n"
		  . "handle SIGINT nostop noprint pass\n"
		  . "handle SIGURG nostop noprint pass"), 60);
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

sub out { return $_[0]->{out}; }

# Delete every breakpoint, detach and end gdb; the process runs on.
sub detach
{
	my ($g) = @_;
	return unless $g->{h};
	if ($g->{h}->pumpable)
	{
		$g->{in} .= "delete\ndetach\nquit\n";
		eval { $g->{h}->signal('INT'); };    # stops the process if it runs
		eval { $g->{timer}->start(10); $g->{h}->finish; };
		eval { $g->{h}->kill_kill; } if $@;
	}
	kill('CONT', $g->{pid});
	$g->{h} = undef;
	return;
}

1;
