
# Copyright (c) the snowflake authors
#
# Immediate shutdown while four sessions mint, and a restart with the clock
# set 10 s back: minting refuses with SF001 ("behind the durable high-water
# mark") until the clock passes the mark the server stored before it went
# down, then resumes; no ID repeats, every new ID is above every ID
# committed before, and at or above the mark.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

require_faketime();

# The server's clock runs 30 s ahead of the real one (see fake_guard in
# SnowflakeTest.pm for why it is not 0).
my $node = new_node('immediate_shutdown');
start_faked($node, '+30');
setup_ids($node);
ok(wait_for_mint($node)->{ok}, 'minting works');

# Four sessions mint; the server goes down under them.
my $bench = start_pgbench($node, clients => 4, seconds => 60, run => 1);
ok( poll_until($node, 'SELECT count(*) > 2000 FROM ids', 30),
	'sessions are minting');
my $down_at = time();
$node->stop('immediate');
my ($rc) = finish_pgbench($bench);
isnt($rc, 0, 'pgbench failed when the server went down');

# Restart with the clock 10 s back.
my $log_offset = -s $node->logfile;
start_faked($node, '+20');

# While the clock is behind the mark, minting refuses (the guard loads the
# mark when the first session asks to mint; until then, SF007).
my $r;
foreach my $try (1 .. 100)
{
	$r = try_sql($node, 'SELECT snowflake_nextval()');
	last if $r->{ret} == 0 || ($r->{sqlstate} // '') eq 'SF001';
	usleep(100_000);
}
is($r->{sqlstate}, 'SF001',
	'with the clock behind the durable high-water mark, minting refuses with SF001'
) or diag $r->{err};

my $mark = mark_loaded_after($node, $log_offset);
ok(defined $mark, 'the guard loaded the durable high-water mark')
  and note "durable high-water mark: $mark";
like(
	$r->{err},
	qr/the clock is \d+ ms behind the durable high-water mark/,
	'the error says the clock is behind the durable high-water mark');
ok(poll_until($node, "SELECT bool_and(clock_state = 'behind') FROM snowflake_status", 10),
	"snowflake_status shows the clock as 'behind'");

my $w = wait_for_mint($node, timeout => 40);
ok($w->{ok}, 'minting resumes by itself once the clock passes the mark');
# The mark ran at least half the 1 s horizon ahead of the clock when the
# server went down, and the clock is now 10 s behind where it was: minting
# resumes 10.5 to 11 s after the shutdown.
my $waited = time() - $down_at;
note sprintf('minting resumed %.1f s after the shutdown; refusals seen: %s',
	$waited, join(', ', map { "$_ x $w->{states}{$_}" } sort keys %{ $w->{states} }));
cmp_ok($waited, '>=', 9.5,
	'it resumed only once the clock had passed the mark (about 10.5 s after the shutdown)');
ok(!grep({ $_ ne 'SF001' && $_ ne 'SF007' } keys %{ $w->{states} }),
	'every refusal until then was SF001 (or SF007 before the mark was loaded)');
cmp_ok(status_value($node, 'sum(refusals_clock)'),
	'>', 0, 'the refusals are counted (refusals_clock)');

# Mint again under load.
($rc) = run_pgbench($node, clients => 4, seconds => 2, run => 2);
is($rc, 0, 'pgbench mints without an error after the restart');

is( $node->safe_psql(
		'postgres', q{
		SELECT (SELECT min(id) FROM ids WHERE run = 2) >
		       (SELECT max(id) FROM ids WHERE run = 1)}),
	't',
	'every ID minted after the restart is above every ID committed before');
is( $node->safe_psql(
		'postgres', qq{
		SELECT min(snowflake_timestamp(id)) >= '$mark'::timestamptz
		FROM ids WHERE run = 2}),
	't',
	'every ID minted after the restart is at or above the durable mark')
  if defined $mark;
is( $node->safe_psql(
		'postgres', qq{
		SELECT max(snowflake_timestamp(id)) < '$mark'::timestamptz
		FROM ids WHERE run = 1}),
	't',
	'every ID committed before the shutdown is below the durable mark')
  if defined $mark;
check_ids($node, 'across an immediate shutdown');

$node->stop;
done_testing();
