
# Copyright (c) the snowflake authors
#
# Worker IDs leased from the embedded coordination table (the default: no
# snowflake.coordinator, the table lives in snowflake.database of the server
# itself).  A server with nothing but the preload leases worker IDs 0..7, one
# per slot, records them in snowflake_state.worker_lease (holder, fencing
# token), renews them on the interval set (the timing settings reload),
# reports the last timestamp it minted, keeps ordinary roles from writing the
# table, releases its leases at a clean stop, and leases again after a
# restart with higher fencing tokens (or other IDs).  A pinned worker ID
# (snowflake.worker_id = 100, two slots) leases exactly 100 and 101.

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

# Key of the session-level advisory locks that hold the leases
# (pg_advisory_lock(1397641047, worker_id)).
my $LOCK_KEY = 1397641047;

my $node = new_node('lease_embedded');
$node->start;
my $port = $node->port;
my $pid  = postmaster_pid($node);
like($pid, qr/^\d+$/, 'the postmaster PID is known');

$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'minting works with nothing but the preload (embedded leases)');
note sprintf('first ID after %.2f s (refusals before: %s)',
	$w->{seconds}, join(', ', map { "$_ x$w->{states}{$_}" } sort keys %{ $w->{states} }));
my $first_id = $w->{id};

# snowflake_status: 8 slots, every one holding its own worker ID, 0..7.
ok( poll_until(
		$node,
		"SELECT count(*) FILTER (WHERE lease_state = 'held') = 8 FROM snowflake_status",
		10),
	'all 8 slots hold a lease');
is(status_value($node, 'count(*)'), '8', 'snowflake_status shows 8 slots');
is( status_value($node, "string_agg(DISTINCT lease_state, ',')"),
	'held', "every slot's lease_state is 'held'");
is( status_value($node, "array_agg(worker_id ORDER BY worker_id)::text"),
	'{0,1,2,3,4,5,6,7}',
	'the slots hold worker IDs 0..7, each once');
is( status_value(
		$node,
		'count(*) FILTER (WHERE lease_expires_at > now() AND fencing_deadline > now())'),
	'8',
	'lease_expires_at and fencing_deadline are set and in the future');
is( status_value($node,
		'count(*) FILTER (WHERE fencing_deadline < lease_expires_at)'),
	'8', 'each fencing deadline comes before the lease expires');
my $minted_worker =
  $node->safe_psql('postgres', "SELECT snowflake_worker_id($first_id)");
ok($minted_worker =~ /^[0-7]$/,
	"the first ID minted decodes to a leased worker ID ($minted_worker)");

# The lease keeper runs, and holds one advisory lock per leased worker ID.
my $keeper = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'snowflake lease keeper'"
);
like($keeper, qr/^\d+$/, 'one "snowflake lease keeper" worker runs');
is( $node->safe_psql(
		'postgres',
		"SELECT application_name FROM pg_stat_activity WHERE pid = '$keeper'"),
	'snowflake lease keeper',
	'the lease keeper has application_name "snowflake lease keeper"');
is( $node->safe_psql(
		'postgres', qq{
		SELECT array_agg(objid::int ORDER BY objid)::text
		  FROM pg_locks
		 WHERE locktype = 'advisory' AND classid = $LOCK_KEY AND objsubid = 2
		   AND granted AND pid = '$keeper'}),
	'{0,1,2,3,4,5,6,7}',
	'the lease keeper holds pg_advisory_lock(1397641047, worker_id) for 0..7');

# The coordination table, in database postgres.
my $sysid = $node->safe_psql('postgres',
	'SELECT system_identifier FROM pg_control_system()');
is( $node->safe_psql(
		'postgres', qq{
		SELECT count(*), count(*) FILTER (
			WHERE holder_port = $port AND holder_pid = $pid
			  AND holder_cluster_name = 'lease_embedded'
			  AND holder_system_id = '$sysid'
			  AND fencing_token >= 1 AND released_at IS NULL
			  AND acquired_at IS NOT NULL AND renewed_at >= acquired_at
			  AND expires_at > now())
		  FROM snowflake_state.worker_lease}),
	'8|8',
	'worker_lease has 8 live rows held by this server (port, postmaster PID, '
	  . 'cluster_name, system identifier), fencing tokens >= 1, not released');
is( $node->safe_psql(
		'postgres',
		'SELECT array_agg(worker_id ORDER BY worker_id)::text FROM snowflake_state.worker_lease'),
	'{0,1,2,3,4,5,6,7}',
	'the rows are worker IDs 0..7');
ok( poll_until(
		$node, q{
		SELECT count(*) = 8 FROM snowflake_status s
		  JOIN snowflake_state.worker_lease l USING (worker_id)
		 WHERE s.lease_expires_at = l.expires_at},
		15),
	"snowflake_status shows the table's expires_at as lease_expires_at");

# Renewal: with the default interval (10 s) renewed_at moves once every 10
# s; set it to 1 s with ALTER SYSTEM and a reload, and renewed_at must move
# about every second.
my $renewed_sql =
  'SELECT extract(epoch FROM renewed_at) FROM snowflake_state.worker_lease WHERE worker_id = 0';
my $renewed_before = $node->safe_psql('postgres', $renewed_sql);
$node->safe_psql('postgres',
	"ALTER SYSTEM SET snowflake.lease_renew_interval = '1s'; SELECT pg_reload_conf();"
);
ok( poll_until(
		$node, "SELECT current_setting('snowflake.lease_renew_interval') = '1s'",
		10),
	'snowflake.lease_renew_interval reloads to 1s');
my @renewals;
my $last = $renewed_before;
my $until = time() + 12;
while (@renewals < 4 && time() < $until)
{
	my $v = $node->safe_psql('postgres', $renewed_sql);
	if ($v ne $last)
	{
		push @renewals, $v;
		$last = $v;
	}
	usleep(100_000);
}
note "renewed_at of worker ID 0: before $renewed_before, then @renewals";
cmp_ok(scalar(@renewals), '>=', 4,
	'renewed_at advanced at least 4 times within 12 s of the reload');
if (@renewals >= 4)
{
	my $gap = ($renewals[3] - $renewals[1]) / 2;
	cmp_ok($gap, '<', 2.5,
		sprintf('renewals come about every second after the reload (%.2f s apart)', $gap));
	cmp_ok($gap, '>', 0.5,
		'and not much more often than the interval set');
}

# last_minted_at: the keeper reports, at renewal, the last timestamp minted
# under each worker ID; it reaches the timestamp of an ID minted now.
my $id = $node->safe_psql('postgres', 'SELECT snowflake_nextval()');
ok( poll_until(
		$node, qq{
		SELECT last_minted_at >= snowflake_timestamp($id)
		  FROM snowflake_state.worker_lease
		 WHERE worker_id = snowflake_worker_id($id)},
		10),
	'last_minted_at is reported at renewal and is >= the timestamp of an ID minted before');
is( $node->safe_psql(
		'postgres', qq{
		SELECT last_minted_at <= clock_timestamp()
		  FROM snowflake_state.worker_lease
		 WHERE worker_id = snowflake_worker_id($id)}),
	't',
	'last_minted_at is not in the future');

# Ordinary roles cannot write leases.
$node->safe_psql('postgres', 'CREATE ROLE ordinary LOGIN');
my $table_before = $node->safe_psql('postgres',
	'SELECT worker_id, holder_pid, fencing_token, released_at FROM snowflake_state.worker_lease ORDER BY 1'
);
foreach my $dml (
	[ 'INSERT',
		"INSERT INTO snowflake_state.worker_lease (worker_id, holder_port, fencing_token) VALUES (99, 1, 1)"
	],
	[ 'UPDATE',
		'UPDATE snowflake_state.worker_lease SET holder_pid = 1, fencing_token = fencing_token + 1'
	],
	[ 'DELETE', 'DELETE FROM snowflake_state.worker_lease' ])
{
	my ($what, $sql) = @$dml;
	my $r = try_sql_as($node, 'ordinary', $sql);
	isnt($r->{ret}, 0, "an ordinary role cannot $what rows of the lease table");
	is($r->{sqlstate}, '42501', "$what by an ordinary role fails with SQLSTATE 42501");
	like($r->{err}, qr/permission denied/, "$what: permission denied");
}
is( $node->safe_psql(
		'postgres',
		'SELECT worker_id, holder_pid, fencing_token, released_at FROM snowflake_state.worker_lease ORDER BY 1'
	),
	$table_before,
	'the lease table is unchanged');

# Mint a few more, so that the restart below has something to be above.
my $last_before_stop = $node->safe_psql('postgres',
	'SELECT max(b) FROM snowflake_batch(5000) b');

# A clean stop releases every lease.
my %token_before = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres',
	'SELECT worker_id, fencing_token FROM snowflake_state.worker_lease WHERE released_at IS NULL');
is(scalar(keys %token_before), 8, '8 leases held before the stop');
my $log_offset = -s $node->logfile;
$node->stop;
my $log = slurp_file($node->logfile, $log_offset);
# One line names every worker ID released ("released worker IDs 0, 1, ...").
my @released = sort { $a <=> $b } map { /(\d+)/g }
  $log =~ /snowflake: released worker IDs? ([\d, ]+)/g;
is("@released", '0 1 2 3 4 5 6 7', 'the server log says each of the 8 worker IDs was released');

# Read the table with the library not loaded, so that nothing leases again.
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->start;
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*), count(*) FILTER (
			WHERE released_at IS NOT NULL AND released_at >= renewed_at
			  AND minting_until IS NOT NULL)
		  FROM snowflake_state.worker_lease}),
	'8|8',
	'a clean stop sets released_at (and minting_until) on all 8 rows');
is( $node->safe_psql(
		'postgres', qq{
		SELECT greatest(last_minted_at, minting_until) >= snowflake_timestamp($last_before_stop)
		  FROM snowflake_state.worker_lease
		 WHERE worker_id = snowflake_worker_id($last_before_stop)}),
	't',
	'at release, greatest(last_minted_at, minting_until) covers the last ID minted');
$node->stop;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'snowflake'\n");

# After a restart: minting again, on new leases.
$node->start;
my $pid2 = postmaster_pid($node);
$w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'the server mints again after the restart');
cmp_ok($w->{id}, '>', $last_before_stop,
	'the first ID after the restart is above the last ID before it');
ok( poll_until(
		$node,
		"SELECT count(*) FILTER (WHERE lease_state = 'held') = 8 FROM snowflake_status",
		10),
	'8 slots hold a lease after the restart');
my @new = map { [ split /\|/ ] } split /\n/,
  $node->safe_psql(
	'postgres', qq{
	SELECT worker_id, fencing_token FROM snowflake_state.worker_lease
	 WHERE released_at IS NULL AND holder_pid = $pid2 ORDER BY worker_id});
is(scalar(@new), 8, '8 live leases held by the new postmaster');
my @stale = grep { exists $token_before{ $_->[0] } && $_->[1] <= $token_before{ $_->[0] } } @new;
is(scalar(@stale), 0,
	'every new lease is another worker ID or has a higher fencing token');
note 'leases after the restart (worker_id|fencing_token): '
  . join(', ', map { "$_->[0]|$_->[1]" } @new);
is( status_value($node, "array_agg(worker_id ORDER BY worker_id)::text"),
	'{' . join(',', map { $_->[0] } @new) . '}',
	'snowflake_status shows the worker IDs of the new leases');

# Pinned: snowflake.worker_id = 100 with 2 slots leases exactly 100 and 101.
$node->stop;
$node->append_conf('postgresql.conf',
	"snowflake.worker_id = 100\nsnowflake.worker_slots = 2\n");
$node->start;
$w = wait_for_mint($node, timeout => 30);
ok($w->{ok}, 'a pinned server mints');
ok( poll_until(
		$node,
		"SELECT count(*) FILTER (WHERE lease_state = 'held') = 2 FROM snowflake_status",
		10),
	'both slots of the pinned server hold a lease');
is(slot_states($node), '100:held,101:held',
	'slot 0 holds worker ID 100, slot 1 holds 101');
like($node->safe_psql('postgres', "SELECT snowflake_worker_id($w->{id})"),
	qr/^10[01]$/, 'a minted ID decodes to worker ID 100 or 101');
# Two sessions open at once: the second gets the slot the first does not
# use as its home (the least used), so both worker IDs mint whatever the
# speed of the machine.
my %seen;
my @sessions = map { $node->background_psql('postgres') } 1 .. 2;
foreach my $s (@sessions)
{
	$seen{$_}++ foreach split /\n/,
	  $s->query_safe('SELECT DISTINCT snowflake_worker_id(b) FROM snowflake_batch(50000) b');
}
$_->quit foreach @sessions;
is(join(',', sort { $a <=> $b } keys %seen),
	'100,101', 'IDs minted by a pinned server decode to worker IDs 100 and 101');
my $pid3 = postmaster_pid($node);
is( $node->safe_psql(
		'postgres', qq{
		SELECT array_agg(worker_id ORDER BY worker_id)::text
		  FROM snowflake_state.worker_lease
		 WHERE released_at IS NULL AND holder_pid = $pid3}),
	'{100,101}',
	'the lease table shows 100 and 101 held by the pinned server');

$node->stop;
done_testing();
