
# Copyright (c) the snowflake authors
#
# A clean restart resumes at once.  While a server mints, its durable
# high-water mark runs up to snowflake.high_water_horizon ahead of the
# clock, and after a start minting waits for the clock to pass the stored
# mark.  At a clean shutdown the guard, once no other session is left,
# stores the mark one millisecond above the highest millisecond minted, so
# the first mint after a clean restart does not wait for the clock; it
# still mints above every ID minted before.  SIGTERM to the guard alone
# (not a shutdown), and an immediate shutdown, leave the mark where it is.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = new_node('clean_restart', conf => "snowflake.high_water_horizon = '5s'\n");
$node->start;
setup_ids($node);

# The time field of $id, in Unix milliseconds.
sub ms_of
{
	my ($id) = @_;
	return (decode_id($node, $id))[2];
}

# Mint in two sessions; one stays connected through the shutdown.
my $bg = $node->background_psql('postgres');
my $bg_id = $bg->query_safe('SELECT snowflake_nextval()');
my $last = $node->safe_psql('postgres', 'SELECT max(id) FROM snowflake_batch(50000) id');
$last = $bg_id if $bg_id > $last;
my $last_ms = ms_of($last);
my $running_mark = stored_mark_ms($node);
cmp_ok($running_mark - $last_ms, '>', 1000,
	'while the server mints, the stored mark runs ahead of the last ID ('
	  . ($running_mark - $last_ms) . ' ms)');

my $log_at = -s $node->logfile;
$node->stop('fast');
eval { $bg->quit; };
my $log = slurp_file($node->logfile, $log_at);
like($log, qr/snowflake: stored the high-water mark [^\n]*just above the last millisecond minted/,
	'at a clean shutdown the guard stores the mark at the last minted millisecond');

$node->start;
is(stored_mark_ms($node), $last_ms + 1,
	'the stored mark is one millisecond above the last ID minted');
my $t0 = time();
my $r = try_sql($node, 'SELECT snowflake_nextval()');
my $first_after = time() - $t0;
is($r->{ret}, 0, 'the first mint after the clean restart works');
note sprintf('first ID %.1f ms after the start returned (one psql session)', $first_after * 1000);
cmp_ok($r->{out}, '>', $last, 'it is above every ID minted before the restart');
is(status_value($node, 'sum(waits_clock)'), '0',
	'the first mint after a clean restart did not wait for the clock');

# A clean shutdown while two sessions mint and commit each ID: the mark
# stored is above every ID they committed.
my $loops = start_mint_loops($node, clients => 2, seconds => 60, run => 1, settle => 0);
ok(poll_until($node, 'SELECT count(*) > 2000 FROM ids', 30), 'two sessions mint and commit');
$log_at = -s $node->logfile;
$node->stop('fast');
finish_mint_loops($loops);
like(slurp_file($node->logfile, $log_at), qr/stored the high-water mark/,
	'the guard stores the mark once the minting sessions are gone');
$node->start;
my ($committed, $committed_ms) = split /\|/,
  $node->safe_psql('postgres',
	'SELECT count(*), (extract(epoch FROM snowflake_timestamp(max(id))) * 1000)::int8 FROM ids');
cmp_ok(stored_mark_ms($node), '>', $committed_ms,
	"the stored mark is above every one of the $committed IDs the sessions committed");
$r = try_sql($node, 'SELECT snowflake_nextval() > (SELECT max(id) FROM ids)');
is($r->{out}, 't', 'the first ID after the restart is above all of them');

# SIGTERM to the guard alone: a new guard, the mark where it was.
my $batch_ms = ms_of($node->safe_psql('postgres', 'SELECT max(id) FROM snowflake_batch(1000) id'));
my $mark = stored_mark_ms($node);
$log_at = -s $node->logfile;
my $guard = guard_pid($node);
kill('TERM', $guard);
ok( poll_until(
		$node, "SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'snowflake guard' AND pid <> $guard"),
	'the guard is started again after SIGTERM');
my $after = stored_mark_ms($node);
cmp_ok($after, '>=', $mark, 'SIGTERM to the guard alone does not lower the stored mark');
cmp_ok($after - $batch_ms, '>', 1000,
	'it is still ahead of the last ID by more than a second (' . ($after - $batch_ms) . ' ms)');
unlike(slurp_file($node->logfile, $log_at), qr/stored the high-water mark/,
	'and logs no store');
ok(wait_for_mint($node, timeout => 30)->{ok}, 'minting goes on');

# An immediate shutdown stores nothing: the next start waits for the mark.
$node->safe_psql('postgres', 'SELECT count(*) FROM snowflake_batch(1000)');
$mark = stored_mark_ms($node);
$node->stop('immediate');
$node->start;
is(stored_mark_ms($node), $mark, 'an immediate shutdown leaves the stored mark as it was');
my $w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'the server mints after the immediate restart');
cmp_ok(ms_of($w->{id}), '>=', $mark, 'above the mark stored before it');

done_testing();
