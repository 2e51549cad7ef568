
# Copyright (c) the snowflake authors
#
# A small backward step of the wall clock (5 ms, under snowflake.max_clock_wait
# = 20 ms) while four sessions mint under load: minting waits it out, so no
# session gets an error, no ID repeats and each session's IDs keep
# increasing; the waits are counted, and the guard worker counts and logs
# the step.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep);

require_faketime();

# The server's clock runs 30 s ahead of the real one (see fake_guard in
# SnowflakeTest.pm for why it is not 0).
my $node = new_node('clock_step_small');
start_faked($node, '+30');
setup_ids($node);
ok(wait_for_mint($node)->{ok}, 'minting works');

my $log_offset = -s $node->logfile;

# Four sessions mint for 4 s; meanwhile the clock steps back by 5 ms three
# times (the offset goes from 30 s to 29.995, 29.990, 29.985 s), 0.7 s
# apart, so that the
# guard sees each step on a tick of its own.
my $bench = start_pgbench($node, clients => 4, seconds => 4, run => 1);
usleep(1_000_000);
foreach my $offset ('+29.995', '+29.990', '+29.985')
{
	set_clock($node, $offset);
	usleep(700_000);
}
my ($rc, $out, $err) = finish_pgbench($bench);
is($rc, 0, 'pgbench ran without an error');
unlike($err, qr/ERROR|aborted/, 'no session got an error');
like($out, qr/number of failed transactions: 0\b/,
	'pgbench reports no failed transaction')
  if $out =~ /number of failed transactions/;
note $out;
diag $err if $rc;

check_ids($node, 'under small clock steps');

cmp_ok(status_value($node, 'sum(waits_clock)'),
	'>', 0, 'sessions waited out the steps (waits_clock)');
is(status_value($node, 'sum(refusals_clock)'),
	'0', 'no mint was refused for the clock');
cmp_ok(status_value($node, 'max(clock_regressions)'),
	'>=', 1, 'the guard counted a backward step (clock_regressions)');
cmp_ok(status_value($node, 'max(max_regression_ms)'),
	'>=', 3, 'max_regression_ms is about the step (5 ms)');

my $log = slurp_file($node->logfile, $log_offset);
my @steps = $log =~ /snowflake: the wall clock stepped back by (\d+\.\d{3}) ms/g;
ok(scalar(grep { $_ >= 3 && $_ <= 10 } @steps),
	'the guard logged a step back of about 5 ms')
  or diag "steps logged: @steps";

$node->stop;
done_testing();
