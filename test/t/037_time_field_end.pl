
# Copyright (c) the snowflake authors
#
# The end of the time field: minting uses the layout's very last millisecond
# and refuses after it, with SF005; it never wraps around to a small or
# negative ID.  The layout has 20 time bits (21 worker bits, 22 sequence
# bits: 2^20 ms, about 17.5 minutes) and an epoch chosen so that the time
# field runs out about 10 s after the server starts.  snowflake_status
# reports that end (time_field_ends_at).  One session mints in a tight loop
# until it is refused: its last ID has the highest time value (2^20 - 1),
# every ID before it was above the one before, and minting keeps refusing
# with SF005 afterwards.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use POSIX qw(strftime);
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(time);

my $TIME_BITS  = 20;
my $UNITS      = 2**$TIME_BITS;       # time values 0 .. 2^20 - 1
my $TIME_SHIFT = 21 + 22;             # worker bits + sequence bits

# The epoch, in whole milliseconds, such that the time field runs out 10 s
# from now.
my $end_ms   = int(time() * 1000) + 10_000;
my $epoch_ms = $end_ms - $UNITS;
my $epoch    = strftime('%Y-%m-%d %H:%M:%S', gmtime(int($epoch_ms / 1000)))
  . sprintf('.%03d+00', $epoch_ms % 1000);
note "epoch $epoch; the time field runs out 10 s from now";

my $node = new_node(
	'time_field_end', conf => qq{
snowflake.worker_bits = 21
snowflake.sequence_bits = 22
snowflake.epoch = '$epoch'
});
$node->start;
$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION snowflake;
	-- Mint until an error; keep only the last ID, and count the IDs that are
	-- not above the one before (or negative).  Stops by itself 10 s after the
	-- end of the time field, so a layout that never refuses fails the test
	-- instead of hanging it.
	CREATE FUNCTION mint_to_end(ends_at timestamptz,
			OUT calls bigint, OUT first_id bigint, OUT last_id bigint,
			OUT not_above bigint, OUT state text, OUT msg text)
	LANGUAGE plpgsql AS $$
	DECLARE
		id bigint;
	BEGIN
		calls := 0;
		not_above := 0;
		BEGIN
			LOOP
				id := snowflake_nextval();
				calls := calls + 1;
				IF first_id IS NULL THEN
					first_id := id;
				END IF;
				IF id < 0 OR id <= last_id THEN
					not_above := not_above + 1;
				END IF;
				last_id := id;
				IF calls % 100000 = 0
				   AND clock_timestamp() > ends_at + interval '10 s' THEN
					EXIT;
				END IF;
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		END;
	END $$;
});

# The end of the time field, as snowflake_status reports it: the last
# microsecond of millisecond 2^20 - 1.
my $ends_at = $node->safe_psql('postgres',
	'SELECT DISTINCT time_field_ends_at FROM snowflake_status');
is( $node->safe_psql(
		'postgres', qq{
		SELECT '$ends_at'::timestamptz
			= '$epoch'::timestamptz + $UNITS * interval '1 ms' - interval '1 us'}),
	't',
	"time_field_ends_at is the end of time value 2^$TIME_BITS - 1 ($ends_at)");
cmp_ok(
	$node->safe_psql(
		'postgres',
		"SELECT extract(epoch FROM '$ends_at'::timestamptz - clock_timestamp())"),
	'>', 2,
	'the time field has not run out yet');

my $w = wait_for_mint($node, timeout => 5);
ok($w->{ok}, 'minting works before the end');

my ($calls, $first_id, $last_id, $not_above, $state, $msg) = split /\|/,
  $node->safe_psql('postgres', "SELECT * FROM mint_to_end('$ends_at')");
note "minted $calls IDs, $first_id .. $last_id, then: $state $msg";
is($state, 'SF005', 'minting stops with SF005 once the time field has run out');
like($msg, qr/time field ran out/, 'the error says the time field ran out');
cmp_ok($calls, '>', 1000, 'many IDs were minted up to the end');
is($not_above, '0', 'every ID was above the one before (none wrapped or went negative)');
cmp_ok($last_id, '>', 0, 'the last ID is positive');
is($last_id >> $TIME_SHIFT, $UNITS - 1,
	"the last ID minted has the highest time value, 2^$TIME_BITS - 1");
my $r = try_sql(
	$node, qq{
	SELECT snowflake_timestamp($last_id)
		= '$epoch'::timestamptz + ($UNITS - 1) * interval '1 ms'});
is($r->{out}, 't',
	"snowflake_timestamp() of the last ID is the layout's last millisecond")
  or diag $r->{err};
cmp_ok($first_id >> $TIME_SHIFT, '<', $UNITS - 1000,
	'the loop started well before the last millisecond');

# After the end, every call refuses: nothing wraps around.
$r = try_sql($node, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF005', 'snowflake_nextval() after the end refuses with SF005')
  or diag "out: $r->{out}\nerr: $r->{err}";
$r = try_sql($node, 'SELECT snowflake_batch(10)');
is($r->{sqlstate}, 'SF005', 'snowflake_batch(10) after the end refuses with SF005')
  or diag "out: $r->{out}\nerr: $r->{err}";
cmp_ok(status_value($node, 'sum(refusals_other)'),
	'>=', 3, 'the refusals are counted (refusals_other)');

$node->stop;
done_testing();
