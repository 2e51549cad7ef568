
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
use GdbTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $b_pid;

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

my $gdb = gdb_attach($b_pid);
ok($gdb->wait($gdb->send("break $point\ncontinue"), 60) || $gdb->out =~ /Breakpoint 1 at/,
	"gdb attached to B and set a breakpoint at $point");
if ($gdb->out =~ /Function "$point" not defined/)
{
	plan skip_all => 'the library has no test points: build it with '
	  . 'COPT=-DSNOWFLAKE_TEST_POINTS, as scripts/test.sh does';
}

my $hit = qr/Breakpoint 1, $point \(ms=(?:ms\@entry=)?(\d+)\)/;
ok($gdb->wait($hit, 30), 'B stops with its numbers taken and checked, before raising the floor');
my ($ms) = $gdb->out =~ $hit;
my $epoch = $gdb->wait($gdb->send('print snowflake_cluster_layout.epoch_ms'), 10)
  && $gdb->out =~ /\$1 = (\d+)\n/ ? $1 : undef;
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
$gdb->detach;
$stop->finish;
eval { $b->finish; };
$node->_update_pid(0);
like(slurp_file($node->logfile, $log_at), qr/stored the high-water mark/,
	'once B is gone, the guard stores the mark');
note "B: $b_out $b_err";

$node->start;
my $stored = stored_mark_ms($node);
cmp_ok($stored, '>', $m_unix, "the stored mark ($stored) is above B's millisecond ($m_unix)");
my $w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'the server mints after the restart');
cmp_ok((decode_id($node, $w->{id}))[2], '>', $m_unix, "its first ID is above B's millisecond");

done_testing();
