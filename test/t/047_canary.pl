
# Copyright (c) the snowflake authors
#
# The duplicate canary and the boot probe, on a coordinator and three
# servers.
#
# Sampling: with snowflake.canary_every = 100, about one minted ID in a
# hundred reaches snowflake_state.canary on the coordinator, and exactly
# the IDs whose hash falls below the threshold, so any two servers agree on
# which IDs are sampled.
#
# A collision: server B is made to report an ID server A minted (with
# snowflake_canary_inject(), which an ordinary role may not call, even
# with EXECUTE granted).  B's keeper finds A's sample at its next round and
# records the hit; B parks at once and A at its next round: every mint on
# either refuses with SF012, naming the ID and both holders; the slots show
# lease_state 'parked', snowflake_canary_stats() says why, and the log says
# so.  The worker ID is quarantined: once A lets it go, a server pinned to
# it cannot lease it and is told why.  snowflake_state.quarantine_clear()
# on the coordinator lets both resume.
#
# The boot probe: a sample under a worker ID above that worker ID's floor
# (planted here: a holder nobody knows minted past what the lease table
# says) makes the keeper that leases it give it back before minting; the
# hit is recorded as 'probe' and quarantines the worker ID until cleared.
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

my $coord = new_coordinator('canary_coord');
my $a = new_fleet_node('canary_a', $coord,
	conf => "snowflake.worker_slots = 1\nsnowflake.canary_every = 100\n");
my $b = new_fleet_node('canary_b', $coord,
	conf => "snowflake.worker_slots = 1\nsnowflake.canary_every = 100\n");
$a->start;
$b->start;
foreach my $n ($a, $b)
{
	$n->safe_psql('postgres', 'CREATE EXTENSION snowflake');
	ok(wait_for_mint($n, timeout => 30)->{ok}, $n->name . ' mints');
}

# --- Sampling -----------------------------------------------------------
$a->safe_psql('postgres',
	'CREATE TABLE minted AS SELECT snowflake_nextval() AS id FROM generate_series(1, 20000)');
my $expect = $a->safe_psql('postgres',
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM minted
	  WHERE floor(((id::numeric * 11400714819323198485) % 18446744073709551616)
	              / 4294967296) < 42949672");
my $nexpect = scalar(split /,/, $expect);
ok($nexpect > 100 && $nexpect < 400,
	"about one ID in a hundred of 20000 is to be sampled ($nexpect)");
my $ids_in = join(',', split(/,/, $expect));
ok( poll_until(
		$coord,
		"SELECT count(*) = $nexpect FROM snowflake_state.canary WHERE id IN ($ids_in)",
		30),
	'the keeper sends exactly the IDs whose hash is below the threshold to the coordinator');
is( $coord->safe_psql('postgres',
		"SELECT count(*) FROM snowflake_state.canary
		  WHERE holder_cluster_name = 'canary_a' AND id NOT IN ($ids_in)
		    AND minted_at >= (SELECT min(minted_at) FROM snowflake_state.canary WHERE id IN ($ids_in))
		    AND minted_at <= (SELECT max(minted_at) FROM snowflake_state.canary WHERE id IN ($ids_in))"),
	'0', 'and no other ID minted meanwhile');
ok( poll_until(
		$a,
		"SELECT canary_every = 100 AND sampled >= $nexpect AND sent = sampled AND dropped = 0
		        AND NOT parked AND park_reason IS NULL
		   FROM snowflake_canary_stats()",
		10),
	'snowflake_canary_stats() counts the samples, all sent, none dropped, not parked');

# --- Who may inject -------------------------------------------------------
my $victim = (split /,/, $expect)[-1];
my $worker = $a->safe_psql('postgres', "SELECT snowflake_worker_id($victim)");
$b->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
my $r = try_sql_as($b, 'mallory', "SELECT snowflake_canary_inject($victim)");
is($r->{sqlstate}, '42501', 'an ordinary role may not inject a sample');
$b->safe_psql('postgres',
	'GRANT EXECUTE ON FUNCTION snowflake_canary_inject(bigint) TO mallory');
$r = try_sql_as($b, 'mallory', "SELECT snowflake_canary_inject($victim)");
is($r->{sqlstate}, '42501', 'nor with EXECUTE granted: superusers only');
like($r->{err}, qr/Only superusers/, 'and is told so');
ok(wait_for_mint($b)->{ok}, 'B still mints');

# --- A collision ------------------------------------------------------------
my $a_log = -s $a->logfile;
my $b_log = -s $b->logfile;
my $t0 = time();
$b->safe_psql('postgres', "SELECT snowflake_canary_inject($victim)");

# Mint until the refusal; returns [seconds, try_sql hash].
sub until_parked
{
	my ($node, $timeout) = @_;
	my $start = time();
	while (1)
	{
		my $r = try_sql($node, 'SELECT snowflake_nextval()');
		return [ time() - $t0, $r ] if $r->{ret} != 0 && ($r->{sqlstate} // '') eq 'SF012';
		return [ undef, $r ] if time() - $start > $timeout;
		usleep(20_000);
	}
}
my $pb = until_parked($b, 10);
ok(defined $pb->[0], 'B, which sent the colliding sample, refuses with SF012');
my $pa = until_parked($a, 10);
ok(defined $pa->[0], 'A, the other holder, refuses with SF012');
diag sprintf('after the injection: B parked in %.2f s, A in %.2f s (renewal interval 1 s)',
	$pb->[0] // -1, $pa->[0] // -1);
ok(defined $pa->[0] && $pa->[0] < 3, 'A parks within about one renewal interval');
my $a_port = $a->port;
my $b_port = $b->port;
foreach my $p ([ 'A', $pa->[1] ], [ 'B', $pb->[1] ])
{
	my ($who, $res) = @$p;
	like($res->{err}, qr/ID $victim under worker ID $worker/, "$who: the refusal names the ID and its worker ID");
	like($res->{err}, qr/canary_a/, "$who: the refusal names A");
	like($res->{err}, qr/port $a_port/, "$who: with A's port");
	like($res->{err}, qr/canary_b/, "$who: the refusal names B");
	like($res->{err}, qr/port $b_port/, "$who: with B's port");
	like($res->{err}, qr/quarantine_clear/, "$who: the hint says how to clear it");
}
note "refusal on A:\n$pa->[1]{err}";
like(slot_states($a), qr/^$worker:parked$/, "A's slot shows lease_state parked");
like(slot_states($b), qr/:parked$/, "B's slot shows lease_state parked");
is($a->safe_psql('postgres', 'SELECT parked, park_reason LIKE \'%' . $victim . '%\' FROM snowflake_canary_stats()'),
	't|t', 'snowflake_canary_stats() shows A parked, and why');
like($a->safe_psql('postgres', 'SELECT DISTINCT lease_error FROM snowflake_status'),
	qr/minting is parked: the duplicate canary found a duplicate: ID $victim/,
	"snowflake_status's lease_error says so");
ok( $a->wait_for_log(qr/WARNING:  snowflake: minting is parked: the duplicate canary found a duplicate: ID $victim/, $a_log),
	"A's log says it is parked, with the ID");
ok( $b->wait_for_log(qr/WARNING:  snowflake: minting is parked: the duplicate canary found a duplicate: ID $victim/, $b_log),
	"B's log says so too");
is( $coord->safe_psql('postgres',
		"SELECT kind, id, worker_id, a_port, b_port, cleared_at IS NULL FROM snowflake_state.canary_hit"),
	"duplicate|$victim|$worker|$a_port|$b_port|t",
	'the coordinator records the hit: the ID, its worker ID, both holders');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM snowflake_state.canary_hit', ),
	'1', 'once');
sleep(2);
$r = try_sql($b, 'SELECT snowflake_batch(10)');
is($r->{sqlstate}, 'SF012', 'batches refuse too, rounds later');

# --- Quarantine -----------------------------------------------------------
# A stops (releasing its lease); C, pinned to the quarantined worker ID,
# may not lease it.
$a->stop;
my $c = new_fleet_node('canary_c', $coord,
	conf => "snowflake.worker_slots = 1\nsnowflake.worker_id = $worker\n");
$c->start;
$c->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($c, timeout => 5);
ok(!$w->{ok}, 'a server pinned to the quarantined worker ID does not mint');
$r = try_sql($c, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF008', 'it refuses with SF008');
like($r->{err}, qr/worker ID $worker is quarantined.*\n.*quarantined by the duplicate canary since .*\(ID $victim\).*quarantine_clear\($worker\)/,
	'and says the worker ID is quarantined, for which ID, and how to clear it');
is($coord->safe_psql('postgres',
		"SELECT holder_cluster_name, released_at IS NOT NULL FROM snowflake_state.worker_lease WHERE worker_id = $worker"),
	'canary_a|t', 'the quarantined worker ID stays released');

# Who may clear: not an ordinary role of the coordinator.
$coord->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
$r = try_sql_as($coord, 'mallory', "SELECT snowflake_state.quarantine_clear($worker)");
is($r->{sqlstate}, '42501', 'an ordinary role of the coordinator may not clear the quarantine');
is($coord->safe_psql('postgres', "SELECT snowflake_state.quarantine_clear($worker)"),
	'1', 'quarantine_clear() clears the one hit');
is( $coord->safe_psql('postgres',
		"SELECT cleared_at IS NOT NULL, cleared_by FROM snowflake_state.canary_hit"),
	't|postgres', 'the hit stays on record, cleared, with who cleared it');
$w = wait_for_mint($c, timeout => 30);
ok($w->{ok}, 'once cleared, the pinned server leases the worker ID and mints');
is($c->safe_psql('postgres', "SELECT snowflake_worker_id($w->{id})"), $worker, 'under that worker ID');
cmp_ok($w->{id}, '>', $victim, 'above every ID A minted under it');
$w = wait_for_mint($b, timeout => 30);
ok($w->{ok}, 'B resumes by itself once cleared');
ok($b->wait_for_log(qr/quarantine was cleared; minting resumes/, $b_log), "B's log says so");
$a->start;
$w = wait_for_mint($a, timeout => 30);
ok($w->{ok}, 'A, started again, mints (on another worker ID, C holds its old one)');
isnt($a->safe_psql('postgres', "SELECT snowflake_worker_id($w->{id})"), $worker,
	'not under the worker ID C holds');
$c->stop;

# --- The boot probe -------------------------------------------------------
# A sample under worker ID 900, never leased, from a holder nobody knows:
# something minted under it that no lease covers.
$coord->safe_psql('postgres',
	"INSERT INTO snowflake_state.canary (id, worker_id, minted_at, holder_system_id,
	   holder_host, holder_port, holder_cluster_name, fencing_token)
	 VALUES (424242, 900, now() - interval '1 minute', '1', 'ghost.example', 5432, 'ghost', 7)");
my $d = new_fleet_node('canary_d', $coord,
	conf => "snowflake.worker_slots = 1\nsnowflake.worker_id = 900\n");
my $d_log = 0;
$d->start;
$d->safe_psql('postgres', 'CREATE EXTENSION snowflake');
$w = wait_for_mint($d, timeout => 5);
ok(!$w->{ok}, 'a server leasing a worker ID with a sample above its floor does not mint');
ok($d->wait_for_log(qr/WARNING:  snowflake: refused to mint under worker ID 900: quarantined by the duplicate canary's boot probe: sample ID 424242 .*ghost/, $d_log),
	'its log says why: the sample and its holder');
is( $coord->safe_psql('postgres',
		"SELECT kind, id, worker_id, a_holder LIKE '%ghost%', cleared_at IS NULL
		   FROM snowflake_state.canary_hit WHERE worker_id = 900"),
	'probe|424242|900|t|t', 'the coordinator records a probe hit, which quarantines the worker ID');
is( $coord->safe_psql('postgres',
		"SELECT count(*) FROM snowflake_state.lease_history WHERE worker_id = 900 AND ended_at IS NULL"),
	'0', 'the lease it took for the probe was given back');
$r = try_sql($d, 'SELECT snowflake_nextval()');
is($r->{sqlstate}, 'SF008', 'the refusal is SF008');
like($r->{err}, qr/worker ID 900 is quarantined.*\n.*quarantined by the duplicate canary since .*\(ID 424242\)/, 'and says the worker ID is quarantined');
is($coord->safe_psql('postgres', 'SELECT snowflake_state.quarantine_clear(900)'),
	'1', 'cleared');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM snowflake_state.canary WHERE worker_id = 900'),
	'0', "clearing forgets the worker ID's samples");
$w = wait_for_mint($d, timeout => 30);
ok($w->{ok}, 'then the server leases worker ID 900 and mints');

# --- A hit the coordinator will not record --------------------------------
# A finds a collision but cannot record it (a trigger on the coordinator
# refuses): A parks and stays parked, round after round, until the hit is
# recorded; then B learns of it too.
$b->safe_psql('postgres', 'SELECT snowflake_batch(1000) FROM generate_series(1, 3)');
ok( poll_until($coord,
		"SELECT count(*) > 0 FROM snowflake_state.canary WHERE holder_cluster_name = 'canary_b'", 10),
	"B's samples reach the coordinator");
my $victim2 = $coord->safe_psql('postgres',
	"SELECT max(id) FROM snowflake_state.canary WHERE holder_cluster_name = 'canary_b'");
$coord->safe_psql('postgres',
	"CREATE FUNCTION public.no_hits() RETURNS trigger LANGUAGE plpgsql AS
	   \$\$BEGIN RAISE EXCEPTION 'hits refused for this test'; END\$\$;
	 CREATE TRIGGER no_hits BEFORE INSERT ON snowflake_state.canary_hit
	   FOR EACH ROW EXECUTE FUNCTION public.no_hits();");
$a_log = -s $a->logfile;
$t0 = time();
$a->safe_psql('postgres', "SELECT snowflake_canary_inject($victim2)");
ok(defined until_parked($a, 10)->[0], 'A parks on the collision it found');
ok($a->wait_for_log(qr/could not record a duplicate: .*hits refused for this test/, $a_log),
	'though the coordinator did not record it');
sleep(3);	# three renewal intervals: three rounds of A's keeper
is(try_sql($a, 'SELECT snowflake_nextval()')->{sqlstate}, 'SF012',
	'A stays parked while its hit is not recorded');
$coord->safe_psql('postgres', 'DROP TRIGGER no_hits ON snowflake_state.canary_hit');
ok(defined until_parked($b, 10)->[0], 'once the coordinator records it, B parks too');
is( $coord->safe_psql('postgres',
		"SELECT kind, a_port, b_port FROM snowflake_state.canary_hit WHERE id = $victim2"),
	"duplicate|$b_port|$a_port", 'the hit A found is recorded once');
my $w2 = $b->safe_psql('postgres', "SELECT snowflake_worker_id($victim2)");
is($coord->safe_psql('postgres', "SELECT snowflake_state.quarantine_clear($w2)"), '1', 'cleared');
ok(wait_for_mint($a, timeout => 30)->{ok}, 'A resumes');
ok(wait_for_mint($b, timeout => 30)->{ok}, 'B resumes');

# The canary off: nothing sampled.
$b->append_conf('postgresql.conf', "snowflake.canary_every = 0\n");
$b->reload;
poll_until($b, "SELECT canary_every = 0 FROM snowflake_canary_stats()", 10);
my $before = $b->safe_psql('postgres', 'SELECT sampled FROM snowflake_canary_stats()');
$b->safe_psql('postgres', 'SELECT snowflake_batch(1000) FROM generate_series(1, 20)');
is($b->safe_psql('postgres', 'SELECT sampled FROM snowflake_canary_stats()'),
	$before, 'with snowflake.canary_every = 0 nothing is sampled');

$_->stop foreach ($a, $b, $d, $coord);
done_testing();
