
# Copyright (c) the snowflake authors
#
# A streaming standby refuses to mint (SF004).  The primary's clock runs 5 s
# ahead of the standby's, and both servers hold the same worker IDs (0..7),
# so after a failover only the replicated durable high-water mark keeps the
# promoted standby from minting the primary's IDs again: it refuses (SF001,
# behind the mark) until its own clock passes the mark, then mints above
# every ID the primary minted.

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

# The primary runs 5 s ahead of the real clock (the server and, through
# fake_guard, its guard worker).  The standby runs on the real clock.
my $primary = new_node('primary', init => { allows_streaming => 1 });
start_faked($primary, '+5');
setup_ids($primary);
ok(wait_for_mint($primary)->{ok}, 'the primary mints');
ok( poll_until(
		$primary,
		'SELECT high_water_mark IS NOT NULL FROM snowflake_state.server_state'),
	'the primary stored a durable high-water mark');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# The primary mints under load.
my ($rc) = run_pgbench($primary, clients => 4, seconds => 2, run => 1);
is($rc, 0, 'pgbench mints on the primary');
my $primary_max = $primary->safe_psql('postgres', 'SELECT max(id) FROM ids');
my $primary_max_ts = $primary->safe_psql('postgres',
	"SELECT snowflake_timestamp($primary_max)");
note "the primary's highest ID: $primary_max ($primary_max_ts)";

$primary->wait_for_catchup($standby);

my $r = try_sql($standby, 'SELECT snowflake_nextval()');
isnt($r->{ret}, 0, 'the standby does not mint');
is($r->{sqlstate}, 'SF004', 'the standby refuses with SF004');
like($r->{err}, qr/on a standby/, 'the error says the server is a standby');
cmp_ok(status_value($standby, 'sum(refusals_other)'),
	'>', 0, "the standby counts the refusal (refusals_other)");

# A clean stop sends the standby all of the primary's WAL, the last stored
# mark included.
$primary->stop;
my $replicated_mark = $standby->safe_psql('postgres',
	'SELECT high_water_mark FROM snowflake_state.server_state');
note "replicated mark: $replicated_mark";
is( $standby->safe_psql(
		'postgres',
		"SELECT '$replicated_mark'::timestamptz > '$primary_max_ts'::timestamptz"),
	't',
	"the replicated mark is above the primary's highest ID");
is( $standby->safe_psql(
		'postgres',
		"SELECT '$replicated_mark'::timestamptz > now() + interval '2 s'"),
	't',
	"the replicated mark is ahead of the standby's clock (the test is meaningful)");

my $log_offset = -s $standby->logfile;
$standby->promote;
ok( poll_until($standby, 'SELECT NOT pg_is_in_recovery()', 30),
	'the standby is promoted');
my $promoted_at = time();

my $w = wait_for_mint(
	$standby,
	timeout => 40,
	sql =>
	  'INSERT INTO ids (run, client, id) VALUES (2, 0, snowflake_nextval()) RETURNING id'
);
ok($w->{ok}, 'the promoted standby mints once its clock passes the mark');
note sprintf('minting resumed %.1f s after the promotion; refusals: %s',
	time() - $promoted_at,
	join(', ', map { "$_ x $w->{states}{$_}" } sort keys %{ $w->{states} }));
ok($w->{states}{SF001},
	'until then it refused with SF001 (the clock behind the replicated mark)');
like(join("\n", @{ $w->{errors} }),
	qr/behind the durable high-water mark/,
	'the error says the clock is behind the durable high-water mark');
ok(!grep({ $_ ne 'SF001' && $_ ne 'SF004' && $_ ne 'SF007' } keys %{ $w->{states} }),
	'no other refusal');

my $mark = mark_loaded_after($standby, $log_offset);
ok(defined $mark, 'the promoted server loaded the replicated mark');
is($mark, $replicated_mark, 'it is the mark replicated from the primary')
  if defined $mark;

($rc) = run_pgbench($standby, clients => 4, seconds => 2, run => 3);
is($rc, 0, 'pgbench mints on the promoted standby');

is( $standby->safe_psql(
		'postgres',
		"SELECT count(*) FROM ids WHERE run IN (2, 3) AND id <= $primary_max"),
	'0',
	"the promoted standby minted nothing at or below the primary's highest ID");
is( $standby->safe_psql(
		'postgres', qq{
		SELECT min(snowflake_timestamp(id)) >= '$replicated_mark'::timestamptz
		FROM ids WHERE run IN (2, 3)}),
	't',
	'nor anything below the replicated mark');
# The ids table replicated from the primary holds the primary's IDs too.
check_ids($standby, "the primary's and the promoted standby's IDs");

$standby->stop;
done_testing();
