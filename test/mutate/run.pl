#!/usr/bin/perl
# Copyright (c) the snowflake authors
#
# Mutation testing: apply each deliberate breakage of test/mutate/mutants.txt
# to a scratch copy of the tree, build and install it, run the tests the
# mutant names, and report whether they caught it (killed) or not
# (SURVIVED).  Every guarantee has a mutant; a surviving mutant is a
# guarantee no test checks.
#
#   make mutate                        # every mutant (as root: it installs)
#   perl test/mutate/run.pl NAME ...   # only these
#   perl test/mutate/run.pl --control [NAME ...]
#                                      # the same tests on the unmutated
#                                      # tree: each must pass ("control ok")
#
# It installs each mutant over the installed extension, so nothing else may
# use this machine's PostgreSQL extension meanwhile; at the end it builds
# and installs the unmutated tree again.  The tree itself is never
# changed.  Exit status: 0 when every mutant was killed, 1 otherwise.
#
# MUTATE_TIMEOUT (seconds, default 900) bounds the tests of one mutant; a
# mutant whose tests run past it counts as killed (they did not pass).
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Time::HiRes qw(time);

my $root = abs_path(dirname(abs_path($0)) . '/../..');
my $timeout = $ENV{MUTATE_TIMEOUT} // 900;
die "run.pl: run as root (it installs each mutant)\n" unless $> == 0;

# --- The list -------------------------------------------------------------
my @mutants;
{
	open(my $fh, '<', "$root/test/mutate/mutants.txt") or die "mutants.txt: $!";
	my ($m, $key);
	while (my $line = <$fh>)
	{
		chomp $line;
		next if !defined $m && $line !~ /^== / || $line =~ /^#/;
		if ($line =~ /^== (\S+)\s*$/)
		{
			$m = { name => $1 };
			push @mutants, $m;
			undef $key;
		}
		elsif ($line =~ /^(guarantee|file|from|to|tests): ?(.*)$/)
		{
			$key = $1;
			$m->{$key} = $2;
		}
		elsif (defined $key)
		{
			$m->{$key} .= "\n$line";
		}
	}
	foreach my $x (@mutants)
	{
		foreach my $k (qw(guarantee file from to tests))
		{
			die "mutant $x->{name}: no $k\n" unless defined $x->{$k};
			$x->{$k} =~ s/\n+\z// if $k ne 'to';
		}
		$x->{to} =~ s/\n+\z//;
	}
}
my $control = @ARGV && $ARGV[0] eq '--control' ? shift(@ARGV) : undef;
my %wanted = map { $_ => 1 } @ARGV;
foreach my $n (keys %wanted)
{
	die "run.pl: no mutant named $n\n" unless grep { $_->{name} eq $n } @mutants;
}
@mutants = grep { $wanted{ $_->{name} } } @mutants if %wanted;

# --- A scratch copy ---------------------------------------------------------
my $scratch = tempdir('snowflake-mutate.XXXXXX', TMPDIR => 1, CLEANUP => 0);
my $tree = "$scratch/tree";
system('cp', '-r', "$root/.", $tree) == 0 or die "copy failed\n";
system('rm', '-rf', "$tree/.git", "$tree/tmp_check", "$tree/results",
	"$tree/output_iso", "$tree/log");
system('chown', '-R', 'postgres:', $scratch) == 0 or die "chown failed\n";
END { system("rm", "-rf", $scratch) if defined $scratch && -d $scratch && !$ENV{MUTATE_KEEP}; }

sub slurp
{
	my ($f) = @_;
	open(my $fh, '<', $f) or die "$f: $!";
	local $/;
	return scalar <$fh>;
}

sub spew
{
	my ($f, $text) = @_;
	open(my $fh, '>', $f) or die "$f: $!";
	print $fh $text;
	close($fh);
}

# Run a command quietly, its output into $log; returns its exit status.
sub quietly
{
	my ($log, @cmd) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>>', $log) or die;
		open(STDERR, '>&', \*STDOUT) or die;
		chdir $tree or die;
		exec(@cmd) or die "exec $cmd[0]: $!";
	}
	waitpid($pid, 0);
	return $?;
}

sub build_and_install
{
	my ($log) = @_;
	return quietly($log, 'make', '-s', 'with_llvm=no',
		'COPT=-DSNOWFLAKE_TEST_POINTS') == 0
	  && quietly($log, 'make', '-s', 'with_llvm=no', 'install') == 0;
}

# The tests of a mutant: pass (1) or fail (0).
sub run_tests
{
	my ($m, $log) = @_;
	my (@regress, @iso, @pgtap, @tap);
	foreach my $t (split ' ', $m->{tests})
	{
		if ($t =~ /^iso:(.+)$/)          { push @iso,   $1 }
		elsif ($t =~ /^pgtap:(.+)$/)     { push @pgtap, "$tree/test/pgtap/$1" }
		elsif ($t =~ m{^t/})             { push @tap,   "test/$t" }
		else                             { push @regress, $t }
	}
	# the first pg_regress test creates the extension the others use
	@regress = ('layouts', grep { $_ ne 'layouts' } @regress) if @regress;
	my $ok = 1;
	if (@regress || @iso || @tap)
	{
		$ok &&= quietly($log, 'timeout', '-k', '30', $timeout, 'runuser', '-u',
			'postgres', '--', 'make', 'with_llvm=no', 'installcheck',
			'REGRESS=' . join(' ', @regress), 'ISOLATION=' . join(' ', @iso),
			'TAP_TESTS=' . (@tap ? '1' : ''), 'PROVE_TESTS=' . join(' ', @tap)) == 0;
	}
	if ($ok && @pgtap)
	{
		local $ENV{PGTAP_FILES} = join(' ', @pgtap);
		$ok &&= quietly($log, 'timeout', '-k', '30', $timeout, 'bash',
			'test/pgtap.sh') == 0;
	}
	return $ok;
}

# --- Each mutant ------------------------------------------------------------
quietly("$scratch/clean.log", 'make', '-s', 'clean');
my @rows;
my $failures = 0;
foreach my $m (@mutants)
{
	my $file = "$tree/$m->{file}";
	my $log = "$scratch/$m->{name}.log";
	my $pristine = slurp($file);
	my $count = () = $pristine =~ /\Q$m->{from}\E/g;
	my $start = time();
	my $result;
	if ($count != 1)
	{
		$result = "does not apply ($count matches)";
	}
	else
	{
		(my $mutated = $pristine) =~ s/\Q$m->{from}\E/$m->{to}/;
		spew($file, $mutated) unless $control;
		if (!build_and_install($log))
		{
			$result = 'does not build';
		}
		elsif ($control)
		{
			$result = run_tests($m, $log) ? 'control ok' : 'CONTROL FAILED';
		}
		else
		{
			$result = run_tests($m, $log) ? 'SURVIVED' : 'killed';
		}
		spew($file, $pristine);
	}
	$failures++ if $result ne ($control ? 'control ok' : 'killed');
	my $secs = time() - $start;
	printf "%-28s %-9s %4.0f s  %s\n", $m->{name}, $result, $secs, $m->{tests};
	if ($result ne ($control ? 'control ok' : 'killed') && -f $log)
	{
		print "  last lines of its log:\n";
		my @lines = split /\n/, slurp($log);
		print map { "    $_\n" } @lines[ -(@lines < 20 ? @lines : 20) .. -1 ];
	}
	push @rows, [ $m, $result, $secs ];
}

# The unmutated build again.
build_and_install("$scratch/restore.log")
  or die "run.pl: could not build and install the unmutated tree again\n";

print "\n| mutant | guarantee it breaks | tests | result |\n|---|---|---|---|\n";
foreach my $r (@rows)
{
	my ($m, $result) = @$r;
	(my $tests = $m->{tests}) =~ s/(\S+)/`$1`/g;
	printf "| `%s` | %s | %s | %s |\n", $m->{name}, $m->{guarantee}, $tests, $result;
}
printf "\n%d mutants, %d %s, %d not\n", scalar(@rows),
  scalar(@rows) - $failures, $control ? 'passed their tests unmutated' : 'killed',
  $failures;
exit($failures ? 1 : 0);
