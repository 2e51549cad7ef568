
# Copyright (c) the snowflake authors
#
# Leases on a streaming standby, embedded mode (no coordinator: the lease
# table is snowflake_state.worker_lease of the server itself, so a physical
# standby holds a replicated copy of the primary's leases).  The standby
# takes no lease and refuses to mint (SF004); every slot is in state
# 'standby'.  Promoted while the old primary still runs (split brain), it
# leases worker IDs of its own: none the old primary holds, so no ID minted
# on one is ever minted on the other, even once the primary's replicated
# leases have expired on the promoted server's copy.

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

# Short lease timings (TTL 6 s), so that the primary's leases expire on the
# promoted server's copy during the test.
my $leases = join('', map { "$_ = '$FleetTest::FAST_LEASES{$_}'\n" }
	  sort keys %FleetTest::FAST_LEASES);

# Local helpers.

# "worker_id,worker_id,..." of the slots of $node, in slot order.
sub worker_ids
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(coalesce(worker_id::text, '-'), ',' ORDER BY slot) FROM snowflake_status"
	);
}

# $count IDs from one snowflake_batch() on $node, as a list.
sub mint_batch
{
	my ($node, $count) = @_;
	return split /,/,
	  $node->safe_psql('postgres',
		"SELECT string_agg(id::text, ',' ORDER BY id) FROM snowflake_batch($count) id");
}

# The distinct worker IDs of @ids, decoded on $node, as "a,b,...".
sub decoded_worker_ids
{
	my ($node, @ids) = @_;
	return '' unless @ids;
	return $node->safe_psql('postgres',
		"SELECT string_agg(DISTINCT snowflake_worker_id(i)::text, ',')
		   FROM unnest('{" . join(',', @ids) . "}'::bigint[]) i");
}

my $primary = new_node('primary',
	init => { allows_streaming => 1 },
	conf => $leases);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($primary, timeout => 30)->{ok}, 'the primary mints');
ok( poll_until(
		$primary,
		"SELECT bool_and(lease_state = 'held' AND worker_id IS NOT NULL) FROM snowflake_status",
		20),
	'the primary holds a lease on every slot');
my $primary_wids = worker_ids($primary);
note "the primary holds worker IDs $primary_wids";
my %primary_wid = map { $_ => 1 } split /,/, $primary_wids;
is( $primary->safe_psql(
		'postgres',
		"SELECT count(*) FROM snowflake_state.worker_lease
		  WHERE holder_cluster_name = 'primary' AND released_at IS NULL
		    AND worker_id IN ($primary_wids)"),
	scalar(keys %primary_wid),
	"the primary's own lease table names it as holder of its worker IDs");

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# The standby refuses to mint and takes no lease.
my $r = try_sql($standby, 'SELECT snowflake_nextval()');
isnt($r->{ret}, 0, 'the standby does not mint (nextval)');
is($r->{sqlstate}, 'SF004', 'the standby refuses with SF004');
like($r->{err}, qr/on a standby/, 'the error says the server is a standby');
$r = try_sql($standby, 'SELECT snowflake_batch(10)');
is($r->{sqlstate}, 'SF004', 'snowflake_batch refuses with SF004 on the standby');
ok( poll_until(
		$standby,
		"SELECT count(*) = 8 AND bool_and(lease_state = 'standby') FROM snowflake_status",
		20),
	"every slot of the standby is in lease_state 'standby'");
note 'standby slots: ' . slot_states($standby);

# The primary mints a batch; the standby replays it all.
my @primary_ids = mint_batch($primary, 1000);
is(scalar(@primary_ids), 1000, 'the primary mints a batch of 1000');
$primary->wait_for_catchup($standby);

# Promote the standby; the old primary keeps running.
$standby->promote;
ok(poll_until($standby, 'SELECT NOT pg_is_in_recovery()', 30),
	'the standby is promoted');
my $promoted_at = time();
my $w = wait_for_mint($standby, timeout => 30);
ok($w->{ok}, 'the promoted standby mints');
note sprintf('the promoted standby minted %.1f s after the promotion; refusals: %s',
	time() - $promoted_at,
	join(', ', map { "$_ x $w->{states}{$_}" } sort keys %{ $w->{states} }));
my @standby_ids = $w->{ok} ? ($w->{id}) : ();
ok( poll_until(
		$standby,
		"SELECT bool_and(lease_state = 'held' AND worker_id IS NOT NULL) FROM snowflake_status",
		20),
	'the promoted standby holds a lease on every slot');
my $standby_wids = worker_ids($standby);
note "the promoted standby holds worker IDs $standby_wids";
$primary_wids = worker_ids($primary);
note "the old primary holds worker IDs $primary_wids";
$primary_wid{$_} = 1 foreach split /,/, $primary_wids;
is( join(',', grep { $primary_wid{$_} } split /,/, $standby_wids),
	'', "none of the promoted standby's worker IDs is one the old primary holds");

# Its own lease table names it as holder of its worker IDs.
my $standby_port = $standby->port;
my $standby_pid  = postmaster_pid($standby);
is( $standby->safe_psql(
		'postgres',
		"SELECT string_agg(worker_id || ':' || holder_cluster_name || ':' || holder_port
		                   || ':' || holder_pid || ':' || (released_at IS NULL),
		                   ',' ORDER BY worker_id)
		   FROM snowflake_state.worker_lease WHERE worker_id IN ($standby_wids)"),
	join(',', map { "$_:standby:$standby_port:$standby_pid:true" }
		  sort { $a <=> $b } split /,/, $standby_wids),
	'the promoted standby\'s lease rows name itself as holder (cluster_name, port, pid)');

# Both mint after the promotion.
push @primary_ids, mint_batch($primary, 1000);
push @standby_ids, mint_batch($standby, 1000);

# Past the TTL, the primary's replicated leases have expired in the promoted
# server's table (nobody there renews them); both mint again.
my $expired = poll_until(
	$standby,
	"SELECT count(*) > 0 AND bool_and(expires_at < now())
	   FROM snowflake_state.worker_lease WHERE holder_cluster_name = 'primary'",
	20);
ok($expired, "the primary's leases have expired in the promoted server's table");
usleep(2_000_000);
push @primary_ids, mint_batch($primary, 1000);
push @standby_ids, mint_batch($standby, 1000);
is(worker_ids($standby), $standby_wids,
	'the promoted standby still holds the same worker IDs');
$primary_wids = worker_ids($primary);
$primary_wid{$_} = 1 foreach split /,/, $primary_wids;
is( join(',', grep { $primary_wid{$_} } split /,/, worker_ids($standby)),
	'', 'and still none the old primary holds');

# No ID was minted on both.
my %primary_set = map { $_ => 1 } @primary_ids;
my %standby_set = map { $_ => 1 } @standby_ids;
is(scalar(keys %primary_set), scalar(@primary_ids),
	'the old primary minted ' . scalar(@primary_ids) . ' distinct IDs');
is(scalar(keys %standby_set), scalar(@standby_ids),
	'the promoted standby minted ' . scalar(@standby_ids) . ' distinct IDs');
is(scalar(grep { $primary_set{$_} } @standby_ids),
	0, 'no ID minted by the promoted standby was minted by the old primary');
my %swid = map { $_ => 1 } split /,/, $standby_wids;
is( join(',', grep { !$swid{$_} } split /,/, decoded_worker_ids($standby, @standby_ids)),
	'', "the promoted standby's IDs carry only its own worker IDs");
is( join(',', grep { !$primary_wid{$_} } split /,/, decoded_worker_ids($primary, @primary_ids)),
	'', "the old primary's IDs carry only its own worker IDs");
is( join(',', grep { $swid{$_} } split /,/, decoded_worker_ids($primary, @primary_ids)),
	'', "the old primary's IDs carry none of the promoted standby's worker IDs");

$standby->stop;
$primary->stop;
done_testing();
