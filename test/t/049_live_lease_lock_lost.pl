
# Copyright (c) the snowflake authors
#
# A live lease is never taken over, even when nothing else stands in the
# way.  Two servers are pinned to worker ID 5 (one slot each).  A holds it
# (TTL 30 s).  A's lease keeper is frozen (SIGSTOP), then the coordinator
# restarts: that ends A's coordinator session and with it the advisory
# lock A held on worker ID 5, the layer that normally keeps every other
# keeper from even trying.  B then starts; its keeper gets the lock, and
# only the lease row (expires_at still ahead) says ID 5 is taken: B must
# refuse with SF008 naming A, and leave the row as it was, for as long as
# A's lease lives.  (A itself may still mint under 5 until its fencing
# deadline, which is why a takeover here would be a duplicate in waiting.)
# Once A's keeper runs again it renews its lease.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $coord = new_coordinator('coordinator');
my %pinned = (
	conf   => "snowflake.worker_id = 5\nsnowflake.worker_slots = 1\n",
	leases => { 'snowflake.lease_ttl' => '30s' });
my $srv_a = new_fleet_node('live_a', $coord, %pinned);
my $srv_b = new_fleet_node('live_b', $coord, %pinned);

$srv_a->start;
$srv_a->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($srv_a, timeout => 30);
ok($w->{ok}, 'A mints');
is(slot_states($srv_a), '5:held', 'A holds worker ID 5');
my $row_before = lease_rows($coord);
is($row_before, '5|live_a|1|f', 'the coordinator shows worker ID 5 leased to A, token 1');

# Freeze A's keeper, then restart the coordinator: A's session and its
# advisory lock on worker ID 5 are gone, its lease row is not.
my $keeper = keeper_pid($srv_a);
kill('STOP', $keeper);
push @frozen, $keeper;
my $frozen_at = time();
$coord->restart;
is( $coord->safe_psql('postgres',
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
	'0', 'after the restart no keeper holds an advisory lock on the coordinator');
my $expires_in = $coord->safe_psql('postgres',
	"SELECT extract(epoch FROM expires_at - now()) FROM snowflake_state.worker_lease WHERE worker_id = 5");
cmp_ok($expires_in, '>', 15, "A's lease still has $expires_in s to live");

$srv_b->start;
$srv_b->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok( poll_until(
		$srv_b, "SELECT lease_state = 'held_elsewhere' FROM snowflake_status WHERE slot = 0", 20),
	"B's keeper tried worker ID 5 and found it held elsewhere");
my $r = try_sql($srv_b, 'SELECT snowflake_nextval()');
isnt($r->{ret}, 0, 'B does not mint');
is($r->{sqlstate}, 'SF008', 'B refuses with SF008');
like($r->{err}, qr/live_a/, 'the refusal names A');
is(lease_rows($coord), $row_before, 'the lease row of worker ID 5 is untouched (holder A, token 1)');

# B keeps trying for a few seconds more; A's lease is still live.
usleep(3_000_000);
is(lease_rows($coord), $row_before, 'three seconds on, the lease row is still untouched');
is(slot_states($srv_b), '5:held_elsewhere', 'and B still does not hold worker ID 5');
cmp_ok(time() - $frozen_at, '<', 25, 'all of this happened while A\'s lease was live');

# A's keeper runs again and renews its lease.
thaw();
ok( poll_until(
		$coord, "SELECT expires_at > now() + interval '25 seconds' AND holder_cluster_name = 'live_a'
		   FROM snowflake_state.worker_lease WHERE worker_id = 5", 30),
	"A's keeper, running again, renews its lease");
ok(wait_for_mint($srv_a, timeout => 30)->{ok}, 'A mints again');
is(slot_states($srv_b), '5:held_elsewhere', 'B still does not hold worker ID 5');

done_testing();
