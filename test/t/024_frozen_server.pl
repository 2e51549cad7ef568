
# Copyright (c) the snowflake authors
#
# A frozen server must not mint again under a worker ID that was taken over
# while it was frozen.  Server A leases worker ID 7 (pinned, one slot) from a
# coordinator; a session on A has minted, so its backend is live.  Every
# process of A is stopped (SIGSTOP): its leases are no longer renewed, but its
# coordinator session, which holds the lease's advisory lock, stays open.
# Once the lease has expired, server B, pinned to worker ID 7 too, takes it
# over (terminating A's coordinator session) with a higher fencing token, and
# mints under 7.  Then A is resumed (SIGCONT): the live session and new
# sessions on A must mint nothing under worker ID 7 -- they are refused, past
# the fencing deadline (SF003) or because B holds the ID (SF008) -- and the
# coordination table names B as the holder.

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

# Local helpers.

# Stop the postmaster of $node first (so it forks nothing more), then its
# children, until no child is left running.
sub freeze
{
	my ($node) = @_;
	my $pm = postmaster_pid($node);
	kill('STOP', $pm) or die "could not stop $pm: $!";
	push @frozen, $pm;
	for (1 .. 10)
	{
		my %seen = map { $_ => 1 } @frozen;
		my @new = grep { !$seen{$_} } children_of($pm);
		last unless @new;
		kill('STOP', @new);
		push @frozen, @new;
		usleep(50_000);
	}
	return @frozen;
}

# Text of the log of $node from $offset on.
sub log_since
{
	my ($node, $offset) = @_;
	return slurp_file($node->logfile, $offset);
}

my $coord = new_coordinator('coordinator');
my $pin    = "snowflake.worker_id = 7\nsnowflake.worker_slots = 1\n";
my $node_a = new_fleet_node('server_a', $coord, conf => $pin);
my $node_b = new_fleet_node('server_b', $coord, conf => $pin);

$node_a->start;
$node_a->safe_psql('postgres', 'CREATE EXTENSION snowflake');
my $w = wait_for_mint($node_a, timeout => 30);
ok($w->{ok}, 'server A mints');
ok( poll_until(
		$node_a,
		"SELECT worker_id = 7 AND lease_state = 'held' FROM snowflake_status",
		20),
	'server A holds worker ID 7');
my $a_token = $coord->safe_psql('postgres',
	"SELECT fencing_token FROM snowflake_state.worker_lease
	  WHERE worker_id = 7 AND holder_cluster_name = 'server_a' AND released_at IS NULL");
like($a_token, qr/^\d+$/,
	"the coordination table names server A as holder of 7 (fencing token $a_token)");

# A session on A that has minted: its backend is live when A is frozen.
my $live = $node_a->background_psql('postgres', on_error_stop => 0);
$live->query_safe('\set VERBOSITY verbose');
my $live_pid = $live->query_safe('SELECT pg_backend_pid()');
my @a_before = split /,/,
  $live->query_safe(
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM snowflake_batch(100) id");
is(scalar(@a_before), 100, 'the live session on A minted 100 IDs');
is( $node_a->safe_psql(
		'postgres',
		"SELECT count(*) FROM unnest('{" . join(',', @a_before) . "}'::bigint[]) i
		  WHERE snowflake_worker_id(i) = 7"),
	'100',
	'all of them under worker ID 7');
my $a_max_before = (sort { $a <=> $b } @a_before)[-1];

# The lease's advisory lock is held on the coordinator by A's session.
my $lock_sql = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
	AND classid = 1397641047 AND objid = 7 AND objsubid = 2";
my $a_lock_pid = $coord->safe_psql('postgres', $lock_sql);
like($a_lock_pid, qr/^\d+$/,
	"A's coordinator session holds the advisory lock of worker ID 7");

# Freeze every process of A.
my @stopped   = freeze($node_a);
my $frozen_at = time();
note "stopped A's processes: @stopped";
ok((grep { $_ == $live_pid } @stopped), "the live session's backend is stopped too");
is( scalar(grep { my ($s) = proc_stat($_); defined $s && $s eq 'T' } @stopped),
	scalar(@stopped),
	'every stopped process of A is in state T');

# Wait past the TTL: the coordinator's row expires, the lock stays held.
ok( poll_until(
		$coord,
		'SELECT expires_at < now() FROM snowflake_state.worker_lease WHERE worker_id = 7',
		20),
	"A's lease on 7 expires on the coordinator's clock");
usleep(1_000_000);
note sprintf('lease expired %.1f s after A was frozen', time() - $frozen_at);
is($coord->safe_psql('postgres', $lock_sql),
	$a_lock_pid, "the frozen A's coordinator session still holds the lock");

# B, pinned to 7 too, takes the expired lease over and mints under 7.
my $b_log = -s $node_b->logfile // 0;
$node_b->start;
$node_b->safe_psql('postgres', 'CREATE EXTENSION snowflake');
$w = wait_for_mint($node_b, timeout => 30);
ok($w->{ok}, 'server B mints');
note sprintf('B minted %.1f s after its start; refusals until then: %s',
	$w->{seconds},
	join(', ', map { "$_ x $w->{states}{$_}" } sort keys %{ $w->{states} }));
my @b_ids = ($w->{ok} ? ($w->{id}) : ());
push @b_ids, split /,/,
  $node_b->safe_psql('postgres',
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM snowflake_batch(1000) id");
is( $node_b->safe_psql(
		'postgres',
		"SELECT count(*) FILTER (WHERE snowflake_worker_id(i) = 7) || '/' || count(*)
		   FROM unnest('{" . join(',', @b_ids) . "}'::bigint[]) i"),
	scalar(@b_ids) . '/' . scalar(@b_ids),
	'B mints under worker ID 7');
is(slot_states($node_b), '7:held', "B's slot holds worker ID 7");
my ($b_holder, $b_token, $b_released) = split /\|/,
  $coord->safe_psql('postgres',
	"SELECT holder_cluster_name, fencing_token, released_at IS NOT NULL
	   FROM snowflake_state.worker_lease WHERE worker_id = 7");
is($b_holder, 'server_b', 'the coordination table names B as holder of 7');
cmp_ok($b_token, '>', $a_token, "B's fencing token ($b_token) is above A's ($a_token)");
my $b_lock_pid = $coord->safe_psql('postgres', $lock_sql);
ok($b_lock_pid =~ /^\d+$/ && $b_lock_pid ne $a_lock_pid,
	"the advisory lock of 7 moved from A's session ($a_lock_pid) to B's ($b_lock_pid)");
is( $coord->safe_psql(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $a_lock_pid"),
	'0',
	"A's coordinator session was terminated");
like(log_since($node_b, $b_log), qr/snowflake: leased worker ID 7 \(fencing token $b_token\)/,
	"B logged the lease of 7 with its fencing token");
cmp_ok((sort { $a <=> $b } @b_ids)[0],
	'>', $a_max_before, "B's IDs are above every ID A minted under 7");

# Resume A.  The live session asks at once, before A's lease keeper had a
# chance to learn anything: its lease is past the fencing deadline.
my $a_log = -s $node_a->logfile;
thaw();
my $thawed_at = time();
note sprintf('A was frozen for %.1f s', $thawed_at - $frozen_at);

my (@a_after, %states, @unexpected, $sf008_err);

# One call; records what came back.
sub record_call
{
	my ($what, $ret, $out, $err) = @_;
	if ($ret == 0 && $out =~ /^\d+(\n\d+)*$/)
	{
		push @a_after, split /\n/, $out;
		note "$what minted on A after SIGCONT: $out";
		return 'minted';
	}
	my $state = sqlstate_of($err) // "error: $err";
	$states{$state}++;
	push @unexpected, "$what: $err" unless $state eq 'SF003' || $state eq 'SF008';
	$sf008_err = $err if $state eq 'SF008';
	return $state;
}

sub live_call
{
	my ($sql) = @_;
	$live->{stderr} = '';
	my ($out, $ret) = $live->query($sql);
	my $err = $live->{stderr};
	$live->{stderr} = '';
	return record_call('the live session', $ret, $out, $err);
}

my $first = live_call('SELECT snowflake_nextval()');
note "the live session's first call after SIGCONT: $first";
ok($first eq 'SF003' || $first eq 'SF008',
	"the live session's first call after SIGCONT is refused ($first)");

# Go on for a while (three renewal intervals and more): the live session and
# new sessions, nextval and batch.
my $calls = 1;
while (time() < $thawed_at + 8)
{
	live_call('SELECT snowflake_nextval()');
	live_call('SELECT snowflake_batch(10)');
	foreach my $sql ('SELECT snowflake_nextval()', 'SELECT snowflake_batch(10)')
	{
		my $r = try_sql($node_a, $sql);
		record_call('a new session', $r->{ret}, $r->{out}, $r->{err});
	}
	$calls += 4;
	usleep(200_000);
}
note "calls on A after SIGCONT: $calls; outcomes: "
  . join(', ', map { "$_ x $states{$_}" } sort keys %states);

is(scalar(@a_after), 0, "A minted nothing after SIGCONT ($calls calls)");
is( @a_after
	? $node_b->safe_psql(
		'postgres',
		"SELECT count(*) FROM unnest('{" . join(',', @a_after) . "}'::bigint[]) i
		  WHERE snowflake_worker_id(i) = 7")
	: '0',
	'0',
	'nothing A minted after SIGCONT is under worker ID 7');
is_deeply(\@unexpected, [], 'every refusal is SF003 or SF008');

# A learns that B holds 7: new sessions are refused with SF008 naming B.
my $held_elsewhere = 0;
my $deadline = time() + 10;
while (time() < $deadline)
{
	my $r = try_sql($node_a, 'SELECT snowflake_nextval()');
	my $s = record_call('a new session', $r->{ret}, $r->{out}, $r->{err});
	if ($s eq 'SF008')
	{
		$held_elsewhere = 1;
		last;
	}
	usleep(200_000);
}
ok($held_elsewhere, 'a new session on A is refused with SF008 (held by another server)');
if (defined $sf008_err)
{
	like($sf008_err, qr/server_b/, 'the SF008 error names B\'s cluster_name');
	my $b_port = $node_b->port;
	like($sf008_err, qr/\b$b_port\b/, "the SF008 error names B's port ($b_port)");
}
is(scalar(@a_after), 0, 'A still minted nothing');
like(slot_states($node_a), qr/^7:(lost|held_elsewhere)$/,
	"A's slot is lost or held elsewhere: " . slot_states($node_a));
like(log_since($node_a, $a_log), qr/snowflake: lost the lease on worker ID 7/,
	'A logged that it lost the lease on 7');

# B keeps minting; none of A's IDs after SIGCONT is one of B's.
push @b_ids, split /,/,
  $node_b->safe_psql('postgres',
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM snowflake_batch(1000) id");
my %b_set = map { $_ => 1 } @b_ids;
is(scalar(grep { $b_set{$_} } @a_after),
	0, 'no ID A minted after SIGCONT is one of B\'s');
is(scalar(keys %b_set), scalar(@b_ids), "B's IDs are distinct (" . scalar(@b_ids) . ')');
is(scalar(grep { $b_set{$_} } @a_before),
	0, "no ID A minted before it was frozen is one of B's");

($b_holder, my $token_now, $b_released) = split /\|/,
  $coord->safe_psql('postgres',
	"SELECT holder_cluster_name, fencing_token, released_at IS NOT NULL
	   FROM snowflake_state.worker_lease WHERE worker_id = 7");
is($b_holder, 'server_b', 'at the end, the coordination table still names B as holder of 7');
is($token_now, $b_token, 'with the fencing token B acquired');
is($b_released, 'f', 'not released');

$live->quit;
$node_a->stop;
$node_b->stop;
$coord->stop;
done_testing();
