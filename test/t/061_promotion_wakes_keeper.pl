
# Copyright (c) the snowflake authors
#
# After a promotion, the first mint does not wait for the lease keeper to
# notice on its own.  A standby's keeper looks for a promotion once a
# second; here gdb makes its next look ten minutes away (the timeout of the
# WaitLatch it is about to sleep in), so only a backend that wakes it gets
# an ID: the first snowflake_nextval() after the promotion must return
# within seconds, not wait its 10 s for the keeper's first round and
# refuse (SF002).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use GdbTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(time);
use POSIX ();

plan skip_all => 'the WaitLatch timeout is set through an x86-64 register'
  unless (POSIX::uname())[4] eq 'x86_64';

my $primary = new_node('primary', init => { allows_streaming => 1 });
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($primary)->{ok}, 'the primary mints');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->safe_psql('postgres', 'SELECT snowflake_batch(1000)');
$primary->wait_for_catchup($standby);
is(try_sql($standby, 'SELECT snowflake_nextval()')->{sqlstate},
	'SF004', 'the standby refuses to mint');

my $keeper = keeper_pid($standby);
ok($keeper, "the standby's lease keeper runs (PID $keeper)");

# Catch the keeper at its next WaitLatch (it calls one a second on a
# standby) and make that sleep ten minutes: the timeout is the third
# argument, in rdx on x86-64.
my $g = gdb_attach($keeper);
$g->wait($g->send("break WaitLatch\ncontinue"), 30);
like($g->out, qr/Breakpoint 1, .*WaitLatch/, 'the keeper stopped at its WaitLatch');
$g->wait($g->send('set $rdx = 600000'), 10);
$g->detach;

# A clean stop sends the standby the primary's last mark.
$primary->stop;
$standby->promote;
ok(poll_until($standby, 'SELECT NOT pg_is_in_recovery()', 30), 'the standby is promoted');

my $t0 = time();
my $r = try_sql($standby, 'SELECT snowflake_nextval()');
my $took = time() - $t0;
is($r->{ret}, 0, 'the promoted server mints') or note $r->{err};
cmp_ok($took, '<', 5,
	sprintf('its first ID came %.3f s after the promotion, before the keeper would have looked', $took));
is($standby->safe_psql('postgres', 'SELECT pg_backend_pid() <> 0'), 't', 'the server is up');
ok(kill(0, $keeper), 'it is the keeper that slept that was woken, not a new one');

$standby->stop;
done_testing();
