
# Copyright (c) the snowflake authors
#
# The soak, short: a fleet (coordinator; servers a, b and c, c with a
# streaming standby) minting through every fault class once, in an order
# drawn from a seed (SOAK_SEED, or one taken from the time and printed), and
# no ID returned to any client repeats.  See bench/soak/Soak.pm; the long
# run is "make soak" (docs/reliability.md).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use lib "$FindBin::RealBin/../../bench/soak";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Soak;
use Test::More;

require_faketime();

my $seed = ($ENV{SOAK_SEED} // '') ne '' ? $ENV{SOAK_SEED} : time() % 1_000_000;
diag "soak seed $seed (replay: SOAK_SEED=$seed)";
# Half the lease timings and fault durations of the long run: every class
# still runs (a frozen server outlasts its 3 s lease), in about half the time.
my $r = run_soak(seed => $seed, timescale => 0.5, dir => PostgreSQL::Test::Utils::tempdir());
diag report_text($r);

cmp_ok($r->{ids}, '>', 1_000_000, "the clients recorded over a million IDs ($r->{ids})");
is($r->{duplicates}, 0, 'no ID was returned twice');
is($r->{order_violations}, 0,
	"every session's IDs increase (on a, where clock_step_policy = spare, apart from going down across a step back)");
is($r->{harness_errors}, 0, 'every fault ran');
is(scalar @{ $r->{crashes} }, 0, 'no server process died of a signal the soak did not send');
foreach my $class (@CLASSES)
{
	my @ran = grep { $_->{class} eq $class && $_->{what} !~ /^no / } @{ $r->{log} };
	ok(@ran, "fault $class was injected");
	ok(!grep({ $_->{worst} >= 1e9 } @ran), "after $class, every server hit mints again");
}
my $refused = grep { !/^connection/ } keys %{ $r->{refusals} };
cmp_ok($refused, '>', 0, 'the faults made servers refuse (' . join(', ', sort keys %{ $r->{refusals} }) . ')');

done_testing();
