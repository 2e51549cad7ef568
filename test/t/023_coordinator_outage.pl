
# Copyright (c) the snowflake authors
#
# The coordinator goes away under three minting servers with the short lease
# timings of FleetTest (TTL 6 s, renewal every 1 s, margin 2 s: a slot's
# fencing deadline is 4 s after its last renewal was sent).
#
# (a) Down for about 1.6 s (less than the 2 s margin): minting goes on the
#     whole time, with no refusal.
# (b) Down for 10 s (longer than the TTL): each server keeps minting until
#     its fencing deadline, then refuses with SF003; once the coordinator is
#     back, each renews its own leases (same worker IDs, same fencing
#     tokens) and mints again, by itself.  The time each takes is printed.
#
# No ID is minted twice, and every ID carries a worker ID of its server.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use FleetTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $LOCK_KEY = 1397641047;
my $SLOTS    = 2;
my $EPOCH_MS = 1704067200000;    # 2024-01-01 00:00:00 UTC, the default epoch

my $coord = new_coordinator('coordinator');
my @nodes = map {
	new_fleet_node("outage_$_", $coord,
		conf => "snowflake.worker_slots = $SLOTS\n")
} 1 .. 3;

# mint_through(max_secs, after_resume): one session mints every millisecond
# or so for at most max_secs, catching refusals; once it has been refused
# and then mints again, it stops after_resume seconds later.  Returns the
# IDs minted (in order), the number of refusals, the SQLSTATE, message and
# time (epoch seconds, server clock) of the first refusal and when the
# refused call began, the distinct SQLSTATEs seen, when minting worked again
# after the refusals, and refusals seen after that.
my $mint_through = q{
CREATE FUNCTION mint_through(max_secs float8, after_resume float8,
	OUT minted bigint[], OUT refusals integer, OUT first_state text,
	OUT first_msg text, OUT first_refusal_at float8,
	OUT first_refused_call_at float8, OUT states text,
	OUT resumed_at float8, OUT resumed_call_at float8,
	OUT refusals_after_resume integer)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	call_at float8;
	st text;
	m text;
	seen text[] := '{}';
BEGIN
	minted := '{}';
	refusals := 0;
	refusals_after_resume := 0;
	LOOP
		EXIT WHEN clock_timestamp() > t0 + make_interval(secs => max_secs);
		EXIT WHEN resumed_at IS NOT NULL
			AND extract(epoch FROM clock_timestamp()) > resumed_at + after_resume;
		call_at := extract(epoch FROM clock_timestamp());
		BEGIN
			minted := minted || snowflake_nextval();
			IF refusals > 0 AND resumed_at IS NULL THEN
				resumed_at := extract(epoch FROM clock_timestamp());
				resumed_call_at := call_at;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, m = MESSAGE_TEXT;
			refusals := refusals + 1;
			IF resumed_at IS NOT NULL THEN
				refusals_after_resume := refusals_after_resume + 1;
			END IF;
			IF first_state IS NULL THEN
				first_state := st;
				first_msg := m;
				first_refusal_at := extract(epoch FROM clock_timestamp());
				first_refused_call_at := call_at;
			END IF;
			IF NOT st = ANY (seen) THEN
				seen := seen || st;
			END IF;
		END;
		PERFORM pg_sleep(0.001);
	END LOOP;
	states := array_to_string(seen, ',');
END $$;
};

# Run mint_through in the background on $node (psql, on the real clock).
sub start_minting
{
	my ($node, $max_secs, $after_resume) = @_;
	my %h = (out => '', err => '', node => $node);
	my @cmd = (
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-c',
		"SELECT array_to_string(minted, ','), refusals, first_state, first_msg,
		        first_refusal_at, first_refused_call_at, states, resumed_at,
		        resumed_call_at, refusals_after_resume
		   FROM mint_through($max_secs, $after_resume)");
	$h{run} = IPC::Run::start(\@cmd, '<', \undef, '>', \$h{out}, '2>', \$h{err},
		IPC::Run::timeout($max_secs + 60));
	return \%h;
}

sub finish_minting
{
	my ($h) = @_;
	$h->{run}->finish;
	my $name = $h->{node}->name;
	is($h->{run}->result(0), 0, "$name: the minting session ran to its end")
	  or diag $h->{err};
	chomp(my $out = $h->{out});
	my @f = split /\|/, $out, -1;
	my %r;
	@r{
		qw(ids refusals first_state first_msg first_refusal_at
		  first_refused_call_at states resumed_at resumed_call_at
		  refusals_after_resume)
	} = @f;
	$r{ids} = [ split /,/, ($r{ids} // '') ];
	return \%r;
}

sub id_ms { return ($_[0] >> 22) + $EPOCH_MS; }

# Largest gap, in ms, between the timestamps of consecutive IDs.
sub max_gap_ms
{
	my ($ids) = @_;
	my $max = 0;
	foreach my $i (1 .. $#$ids)
	{
		my $gap = id_ms($ids->[$i]) - id_ms($ids->[ $i - 1 ]);
		$max = $gap if $gap > $max;
	}
	return $max;
}

foreach my $node (@nodes)
{
	$node->start;
	setup_ids($node);
	$node->safe_psql('postgres', $mint_through);
}
my (%held, %sessions);
foreach my $node (@nodes)
{
	my $name = $node->name;
	ok(wait_for_mint($node, timeout => 30)->{ok}, "$name mints");
	ok( poll_until(
			$node,
			"SELECT count(*) FILTER (WHERE lease_state = 'held') = $SLOTS FROM snowflake_status",
			10),
		"both slots of $name hold a lease");
	$held{$name} = { map { $_ => 1 } split /\n/,
		  $node->safe_psql('postgres', 'SELECT worker_id FROM snowflake_status') };
}
my $leases_before = lease_rows($coord);
note "leases:\n$leases_before";
is(scalar(split /\n/, $leases_before), 3 * $SLOTS, 'the coordinator has 6 leases');

sub refusals_sum
{
	my %sum = map { $_->name => status_value($_, 'sum(refusals)') } @nodes;
	return \%sum;
}

sub locks_on_coordinator
{
	return $coord->safe_psql(
		'postgres', qq{
		SELECT count(*) FROM pg_locks
		 WHERE locktype = 'advisory' AND classid = $LOCK_KEY AND objsubid = 2
		   AND granted});
}

############################################################################
# (a) A short outage: about 1.6 s, less than the fencing margin.
############################################################################

my $refusals_before = refusals_sum();
my @runs = map { start_minting($_, 6, 0) } @nodes;
sleep(2);
my $a_stop = time();
# Stopping takes about 0.2 s and starting about 0.4 s: about 1.6 s in all.
# A keeper learns that its coordinator session is gone at its next renewal
# (at most 1 s later) and retries every 0.2 s; its deadline is 4 s after the
# last renewal that succeeded, so no outage shorter than the margin reaches it.
$coord->stop;
usleep(1_000_000);
$coord->start;
my $a_back = time();
note sprintf('(a) coordinator down (stop begun to start done) for %.2f s', $a_back - $a_stop);
cmp_ok($a_back - $a_stop, '<', 2, '(a) the outage was shorter than the margin (2 s)');

foreach my $i (0 .. $#nodes)
{
	my $name = $nodes[$i]->name;
	my $r = finish_minting($runs[$i]);
	push @{ $sessions{$name} }, $r->{ids};
	is($r->{refusals}, '0', "(a) $name: no refusal during an outage shorter than the margin")
	  or diag "first refusal: $r->{first_state} $r->{first_msg}";
	cmp_ok(scalar(@{ $r->{ids} }), '>', 1000,
		"(a) $name: minted all along (" . scalar(@{ $r->{ids} }) . ' IDs)');
	my $gap = max_gap_ms($r->{ids});
	cmp_ok($gap, '<', 500, "(a) $name: minting never paused (largest gap $gap ms)");
	my @during = grep { my $t = id_ms($_) / 1000; $t >= $a_stop && $t <= $a_back } @{ $r->{ids} };
	cmp_ok(scalar(@during), '>', 100,
		"(a) $name: minted while the coordinator was down (" . scalar(@during) . ' IDs)');
}
my $refusals_after = refusals_sum();
is_deeply($refusals_after, $refusals_before,
	'(a) snowflake_status counts no refusal on any server');
ok( poll_until(
		$coord, qq{
		SELECT count(*) = 3 * $SLOTS FROM pg_locks
		 WHERE locktype = 'advisory' AND classid = $LOCK_KEY AND objsubid = 2
		   AND granted},
		10),
	'(a) after the restart the servers hold their advisory locks on the coordinator again');
is(lease_rows($coord), $leases_before,
	'(a) the same leases, with the same fencing tokens');

############################################################################
# (b) A long outage: 10 s, longer than the TTL.
############################################################################

my %log_offset = map { $_->name => -s $_->logfile } @nodes;
@runs = map { start_minting($_, 45, 1) } @nodes;
sleep(2);
my $b_stop = time();
$coord->stop;
my $b_stopped = time();
note sprintf('(b) coordinator stopped in %.2f s', $b_stopped - $b_stop);

# The fencing deadlines of each server's slots (earliest and latest), now
# that no renewal can succeed.
usleep(300_000);
my (%deadline, %last_deadline);
foreach my $node (@nodes)
{
	($deadline{ $node->name }, $last_deadline{ $node->name }) = split /\|/,
	  status_value($node,
		'extract(epoch FROM min(fencing_deadline)), extract(epoch FROM max(fencing_deadline))');
}

# Past every deadline (4 s after the last renewal, at most about 4 s after
# the stop), every slot is 'expired'.
usleep(int(1e6 * ($b_stopped + 6.5 - time())));
foreach my $node (@nodes)
{
	is( $node->safe_psql(
			'postgres',
			"SELECT string_agg(worker_id || ':' || lease_state, ',' ORDER BY worker_id) FROM snowflake_status"),
		join(',', map { "$_:expired" } sort { $a <=> $b } keys %{ $held{ $node->name } }),
		'(b) ' . $node->name . ': every slot is expired, with its worker ID, while the coordinator is down');
}

usleep(int(1e6 * ($b_stopped + 10 - time())));
my $b_start = time();
$coord->start;
my $b_back = time();
note sprintf('(b) coordinator down for %.2f s (%.2f s to start it)',
	$b_back - $b_stop, $b_back - $b_start);

my @resume;
foreach my $i (0 .. $#nodes)
{
	my $name = $nodes[$i]->name;
	my $r = finish_minting($runs[$i]);
	push @{ $sessions{$name} }, $r->{ids};
	my $dl = $deadline{$name};
	my $dl_last = $last_deadline{$name};

	is($r->{first_state}, 'SF003', "(b) $name: refuses with SF003");
	like($r->{first_msg},
		qr/cannot mint a snowflake ID: the lease on worker ID \d+ is past its fencing deadline/,
		"(b) $name: the error says the lease is past its fencing deadline");
	is($r->{states}, 'SF003', "(b) $name: SF003 is the only refusal seen");
	my @after_1s = grep { id_ms($_) / 1000 >= $b_stopped + 1 } @{ $r->{ids} };
	cmp_ok(scalar(@after_1s), '>', 0,
		"(b) $name: kept minting for the first second of the outage");
	my $refused_in = ($r->{first_refusal_at} // 0) - $b_stop;
	cmp_ok($refused_in, '>=', 1, "(b) $name: not refused in the first second of the outage");
	cmp_ok($refused_in, '<=', 6,
		sprintf('(b) %s: refused by TTL seconds into the outage (%.2f s)', $name, $refused_in));
	cmp_ok($r->{first_refusal_at} // 0, '>=', $dl - 0.05,
		sprintf('(b) %s: not refused before its fencing deadline (refused %.3f s after it)',
			$name, ($r->{first_refusal_at} // 0) - $dl));
	cmp_ok($r->{first_refusal_at} // 0, '<=', $dl_last + 0.5,
		"(b) $name: refused soon after its fencing deadline");
	cmp_ok($dl - $b_stop, '>=', 1.5,
		sprintf('(b) %s: its deadline (%.2f s after the stop began) is at least '
			  . 'ttl - margin - renew interval after the stop', $name, $dl - $b_stop));
	cmp_ok($dl_last - $b_stopped, '<=', 4.2,
		"(b) $name: its deadline is at most ttl - margin after the stop");
	my @refusal_window = grep
	{
		my $t = id_ms($_) / 1000;
		$t > $dl_last + 0.002 && $t < ($r->{resumed_call_at} || 9e9) - 0.002
	} @{ $r->{ids} };
	is(scalar(@refusal_window), 0,
		"(b) $name: no ID with a timestamp between its deadline and its resumption");

	ok(defined $r->{resumed_at} && $r->{resumed_at} ne '', "(b) $name: minting resumed by itself");
	my $resume = ($r->{resumed_at} || 9e9) - $b_back;
	push @resume, sprintf('%s %.2f s', $name, $resume);
	cmp_ok($resume, '<=', 15,
		sprintf('(b) %s: resumed %.2f s after the coordinator was back', $name, $resume));
	is($r->{refusals_after_resume}, '0', "(b) $name: no refusal after it resumed");
	note sprintf(
		'(b) %s: deadlines %.3f..%.3f s after stop began; first refusal %.3f s after stop '
		  . '(call began %.3f); %d refusals; resumed %.3f s after the coordinator '
		  . 'start returned (%.3f s after it was begun)',
		$name, $dl - $b_stop, $dl_last - $b_stop, $refused_in,
		($r->{first_refused_call_at} || 0) - $b_stop,
		$r->{refusals}, $resume, ($r->{resumed_at} || 9e9) - $b_start);

	like(
		slurp_file($nodes[$i]->logfile, $log_offset{$name}),
		qr/snowflake: could not reach the coordinator/,
		"(b) $name: the log says the coordinator could not be reached");
}
diag '(b) minting resumed after the 10 s coordinator outage, measured from the '
  . 'coordinator start returning: ' . join(', ', @resume);

foreach my $node (@nodes)
{
	ok( poll_until(
			$node,
			"SELECT count(*) FILTER (WHERE lease_state = 'held') = $SLOTS FROM snowflake_status",
			10),
		'(b) ' . $node->name . ': every slot holds its lease again');
	is( join(',', sort { $a <=> $b } split /\n/,
			$node->safe_psql('postgres', 'SELECT worker_id FROM snowflake_status')),
		join(',', sort { $a <=> $b } keys %{ $held{ $node->name } }),
		'(b) ' . $node->name . ': the same worker IDs as before the outage');
}
is(lease_rows($coord), $leases_before,
	'(b) the coordinator shows the same leases, with the same fencing tokens');
is( $coord->safe_psql(
		'postgres',
		'SELECT count(*) FROM snowflake_state.worker_lease WHERE released_at IS NULL AND expires_at > now()'),
	3 * $SLOTS,
	'(b) every lease is live again');
is(locks_on_coordinator(), 3 * $SLOTS,
	'(b) the servers hold their advisory locks on the coordinator again');

# No ID twice, each session's IDs increasing, each ID under its server's IDs.
my (%seen, @dups, $total);
foreach my $name (sort keys %sessions)
{
	my ($bad_worker, $not_increasing) = (0, 0);
	foreach my $ids (@{ $sessions{$name} })
	{
		foreach my $i (0 .. $#$ids)
		{
			my $id = $ids->[$i];
			$total++;
			push @dups, $id if $seen{$id}++;
			$bad_worker++ unless $held{$name}{ ($id >> 12) & 1023 };
			$not_increasing++ if $i > 0 && $id <= $ids->[ $i - 1 ];
		}
	}
	is($bad_worker, 0, "$name: every ID carries one of its worker IDs");
	is($not_increasing, 0, "$name: each session's IDs strictly increase");
}
is(scalar(@dups), 0, "no ID was minted twice ($total IDs from 3 servers)");

$_->stop foreach @nodes;
$coord->stop;
done_testing();
