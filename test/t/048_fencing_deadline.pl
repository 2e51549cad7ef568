
# Copyright (c) the snowflake authors
#
# The fencing deadline stops minting by itself, on the monotonic clock,
# even where the lease's cap on the wall clock does not yet.  The backends
# of server A run 3 s behind the real clock (libfaketime); its lease keeper,
# started with the server, runs on the real clock, so the cap it sets
# (renewal sent + lease_ttl - fencing_margin, on its wall clock) is 3 s
# ahead of what the backends read.  The coordinator stops: renewals fail.
# Once the deadline has passed (4 s after the last renewal was sent), a
# mint must refuse with SF003 although the backend's wall clock is still
# below the cap for another 3 s.
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

require_faketime();

my $coord = new_coordinator('fence_coord');
my $a = new_fleet_node('fence_a', $coord, conf => "snowflake.worker_slots = 1\n");
with_faked_clock($a, '-3', sub { $a->start });
$a->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($a, timeout => 30);
ok($w->{ok}, 'A mints');

# The backends read a clock 3 s behind the coordinator's; the keeper does not.
my $behind = $coord->safe_psql('postgres',
	"SELECT extract(epoch FROM now() - (timestamptz '2024-01-01 00:00:00+00'
	                                    + ($w->{id} >> 22) * interval '1 ms'))");
ok($behind > 2 && $behind < 5, "A's backends mint 3 s behind the real clock ($behind s)");
my $keeper_ahead = $a->safe_psql('postgres',
	"SELECT extract(epoch FROM max(last_renewal_at) - clock_timestamp()) FROM snowflake_status");
ok($keeper_ahead > 2, "A's lease keeper runs on the real clock, ahead of the backends ($keeper_ahead s)");

$coord->stop;
ok( poll_until($a, q{SELECT bool_and(lease_state = 'expired') FROM snowflake_status}, 15),
	'the fencing deadline passes with the coordinator down');
my $r = try_sql($a, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF003', 'past the deadline a mint refuses with SF003, though the cap is still ahead of the clock')
  or note "minted $r->{out}";

$coord->start;
ok(wait_for_mint($a, timeout => 30)->{ok}, 'A mints again once the coordinator is back');
$a->stop;
$coord->stop;
done_testing();
