
# Copyright (c) the snowflake authors
#
# At a clean shutdown the guard stores the mark at the last minted
# millisecond only once no session is left that could mint.  Session B is
# stopped with gdb in the minting path once it has taken numbers in
# millisecond M and checked them (binding, cap, mark), just before it
# raises the server's floor (max_ms) to M and returns the ID.  A fast
# shutdown then begins: the guard must not store a mark while B is there,
# since the floor does not show M yet.  Once B runs on and ends, the guard
# stores the mark, and the mark is above M.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

my ($gdb, $gdb_timer, $b_pid);
my $gdb_in  = '';
my $gdb_out = '';

# Whatever happens, gdb detaches and B runs on before the framework stops
# the server: this END block runs before the framework's.
END
{
	if ($gdb && $gdb->pumpable)
	{
		$gdb_in .= "delete\ndetach\nquit\n";
		eval { $gdb->signal('INT'); };
		eval { $gdb_timer->start(10); $gdb->finish; };
		eval { $gdb->kill_kill; } if $@;
	}
	kill('CONT', $b_pid) if $b_pid;
}

my @GDB = ('gdb', '-q', '-nx', '-iex', 'set debuginfod enabled off');
my $gdb_marks = 0;

sub gdb_send
{
	my ($cmds) = @_;
	$gdb_marks++;
	$gdb_in .= "$cmds\necho gdb-mark-$gdb_marks\\n\n";
	return qr/gdb-mark-$gdb_marks\n/;
}

sub gdb_wait
{
	my ($re, $timeout) = @_;
	$gdb_timer->start($timeout // 30);
	return pump_until($gdb, $gdb_timer, \$gdb_out, $re);
}

my ($gdb_version, $gdb_stderr) = ('', '');
eval {
	IPC::Run::run([ 'gdb', '--version' ], '>', \$gdb_version, '2>', \$gdb_stderr);
};
plan skip_all => 'gdb is not installed' unless $gdb_version =~ /GNU gdb/;

my $point = 'snowflake_test_point_before_floor';
my $node = new_node('clean_shutdown_in_flight',
	conf => "snowflake.high_water_horizon = '5s'\nsnowflake.worker_slots = 1\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($node, timeout => 30)->{ok}, 'the server mints');

# B: a session that sleeps, then mints once.
my ($b_out, $b_err) = ('', '');
my $b = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' application_name=session_b',
	  '-c', 'SELECT pg_sleep(3)', '-c', 'SELECT snowflake_nextval()' ],
	'<', \undef, '>', \$b_out, '2>', \$b_err,
	IPC::Run::timeout(120));
ok(poll_until($node,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'session_b'", 10),
	'session B is connected');
$b_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'session_b'");

$gdb_timer = IPC::Run::timer(30);
$gdb = IPC::Run::start([ @GDB, '-p', $b_pid ],
	'<', \$gdb_in, '>&', \$gdb_out, $gdb_timer);
my $set = gdb_send("set pagination off\nhandle SIGTERM nostop noprint pass\n"
	  . "handle SIGUSR1 nostop noprint pass\nbreak $point\ncontinue");
ok(gdb_wait(qr/Breakpoint 1 at/, 60), "gdb attached to B and set a breakpoint at $point")
  or diag $gdb_out;
if ($gdb_out =~ /ptrace: |Could not attach|Function "$point" not defined/)
{
	diag $gdb_out;
	BAIL_OUT('gdb cannot stop B at the test point');
}

my $hit = qr/Breakpoint 1, $point \(ms=(?:ms\@entry=)?(\d+)\)/;
ok(gdb_wait($hit, 30), 'B stops with its numbers taken and checked, before raising the floor');
my ($ms) = $gdb_out =~ $hit;
my $epoch = gdb_wait(gdb_send('print snowflake_cluster_layout.epoch_ms'), 10)
  && $gdb_out =~ /\$1 = (\d+)\n/ ? $1 : undef;
ok(defined $ms && defined $epoch, "B took numbers in millisecond $ms (epoch $epoch)");
my $m_unix = $ms + $epoch;

# A fast shutdown begins while B is stopped.
my $log_at = -s $node->logfile;
my ($stop_out, $stop_err) = ('', '');
my $stop = IPC::Run::start(
	[ 'pg_ctl', '-D', $node->data_dir, '-m', 'fast', '-w', 'stop' ],
	'<', \undef, '>', \$stop_out, '2>', \$stop_err, IPC::Run::timeout(120));

# The postmaster is stopping; for 2 s the guard must store nothing.
my $stopping = 0;
foreach (1 .. 100)
{
	my $pidfile = slurp_file($node->data_dir . '/postmaster.pid');
	$stopping = 1, last if (split /\n/, $pidfile)[7] =~ /^stopping/;
	usleep(20_000);
}
ok($stopping, 'the postmaster is stopping');
usleep(2_000_000);
unlike(slurp_file($node->logfile, $log_at), qr/stored the high-water mark/,
	'while B is there, the guard stores no mark');

# B runs on; it ends (terminated by the shutdown), and so does the server.
$gdb_in .= "delete\ndetach\nquit\n";
$gdb->finish;
$gdb = undef;
$stop->finish;
eval { $b->finish; };
$node->_update_pid(0);
like(slurp_file($node->logfile, $log_at), qr/stored the high-water mark/,
	'once B is gone, the guard stores the mark');
note "B: $b_out $b_err";

$node->start;
my $stored = $node->safe_psql('postgres',
	"SELECT (extract(epoch FROM high_water_mark) * 1000)::int8 FROM snowflake_state.server_state");
cmp_ok($stored, '>', $m_unix, "the stored mark ($stored) is above B's millisecond ($m_unix)");
my $w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'the server mints after the restart');
cmp_ok($node->safe_psql('postgres', "SELECT (extract(epoch FROM snowflake_timestamp($w->{id})) * 1000)::int8"),
	'>', $m_unix, "its first ID is above B's millisecond");

done_testing();
