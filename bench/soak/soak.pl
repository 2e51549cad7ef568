
# Copyright (c) the snowflake authors
#
# The long soak (make soak, through bench/soak/run.sh): the fleet of
# bench/soak/Soak.pm minting under faults drawn from SOAK_SEED (default:
# from the time, printed), SOAK_ROUNDS rounds of every fault class (default
# 3) and then more until its clients have recorded SOAK_IDS IDs (default
# 100,000,000), then every ID checked for repeats; SOAK_TIMESCALE (default
# 1) scales the lease timings and fault durations, and SOAK_HORIZON sets
# snowflake.high_water_horizon on the minting servers.  Writes the report to
# SOAK_REPORT (default soak-report.txt in the current directory) and prints
# it.  Needs about 20 bytes of disk per ID twice over (the IDs and their
# sorted copy).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use lib "$FindBin::RealBin/../../test/t";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Soak;
use Test::More;

require_faketime();

my $seed = ($ENV{SOAK_SEED} // '') ne '' ? $ENV{SOAK_SEED} : time() % 1_000_000;
my $target = $ENV{SOAK_IDS} // 100_000_000;
my $rounds = $ENV{SOAK_ROUNDS} // 3;
diag "soak seed $seed, $target IDs (replay: SOAK_SEED=$seed)";
my $t0 = time();
my $r = run_soak(seed => $seed, target_ids => $target, rounds => $rounds,
	max_batch => $ENV{SOAK_MAX_BATCH} // 5000,
	timescale => $ENV{SOAK_TIMESCALE} // 1,
	horizon   => $ENV{SOAK_HORIZON} // '',
	dir => PostgreSQL::Test::Utils::tempdir());
my $text = report_text($r) . sprintf("wall time %.0f s\n", time() - $t0);
diag $text;
my $file = $ENV{SOAK_REPORT} // 'soak-report.txt';
open(my $fh, '>', $file) or die "$file: $!";
print $fh $text;
print $fh "\nfaults in order:\n";
printf $fh "%8.1f s %-20s %-3s %s; fresh session minted after %.3f s, clients after %.3f s\n",
  $_->{t0} - $r->{log}[0]{t0}, $_->{class}, $_->{slot}, $_->{what}, $_->{worst}, $_->{clients_worst}
  foreach @{ $r->{log} };
close($fh);

cmp_ok($r->{ids}, '>=', $target, "the clients recorded $r->{ids} IDs");
is($r->{duplicates}, 0, 'no ID was returned twice');
is($r->{order_violations}, 0,
	"every session's IDs increase (on a, where clock_step_policy = spare, apart from going down across a step back)");
is($r->{harness_errors}, 0, 'every fault ran');
is(scalar @{ $r->{crashes} }, 0, 'no server process died of a signal the soak did not send');
done_testing();
