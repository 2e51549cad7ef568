# Copyright (c) the snowflake authors
#
# The monitoring path end to end, with the real components: the alert
# rules pass promtool's checks and unit tests (monitoring/alerts_test.yml),
# and postgres_exporter, run with monitoring/queries.yaml against a server
# with the extension, exports the metrics those rules use.  Between two
# scrapes the server mints, saturates its one slot, and has its clock
# stepped back 50 ms; the scraped counters move accordingly.
#
# The exporter listens on 127.0.0.1 only and is stopped at the end, as is
# the server.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SnowflakeTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $root = "$FindBin::RealBin/../..";
my $exporter_bin = '/usr/bin/prometheus-postgres-exporter';
foreach my $tool ('promtool', 'curl')
{
	plan skip_all => "$tool is not installed (scripts/install-deps.sh installs it)"
	  if system("command -v $tool >/dev/null 2>&1") != 0;
}
plan skip_all => "$exporter_bin is not installed (scripts/install-deps.sh installs it)"
  unless -x $exporter_bin;
require_faketime();

# The rules: valid, and each alert fires and stays quiet as its tests say.
command_like([ 'promtool', 'check', 'rules', "$root/monitoring/alerts.yml" ],
	qr/SUCCESS: 10 rules found/, 'promtool check rules: the alert rules are valid');
command_like([ 'promtool', 'test', 'rules', "$root/monitoring/alerts_test.yml" ],
	qr/SUCCESS/, 'promtool test rules: every alert fires and stays quiet as tested');

# One slot, so that a large batch saturates it; a faked clock to step.
my $node = new_node('prom', conf => "snowflake.worker_slots = 1\n");
start_faked($node, '+20');
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($node)->{ok}, 'the server mints');

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $dsn = sprintf('host=%s port=%d user=%s dbname=postgres sslmode=disable',
	$node->host, $node->port, scalar getpwuid($<));
my ($out, $err) = ('', '');
my $exporter;
{
	local $ENV{DATA_SOURCE_NAME} = $dsn;
	$exporter = IPC::Run::start(
		[
			$exporter_bin,
			"--extend.query-path=$root/monitoring/queries.yaml",
			"--web.listen-address=127.0.0.1:$port",
			'--disable-default-metrics',
			'--disable-settings-metrics'
		],
		'>', \$out, '2>', \$err);
}
END { $exporter->kill_kill if $exporter; }

# A scrape of /metrics: metric name and labels => value.
sub scrape
{
	my $text = `curl -s --max-time 10 http://127.0.0.1:$port/metrics`;
	my %m;
	foreach (split /\n/, $text)
	{
		next if /^#/;
		$m{$1} = $2 if /^(snowflake_\S+)\s+(\S+)$/;
	}
	return \%m;
}

# The value of the one series of $name whose labels match $labels.
sub value_of
{
	my ($m, $name, $labels) = @_;
	$labels //= qr//;
	my @hits = grep { /^\Q$name\E(\{|$)/ && /$labels/ } keys %$m;
	return undef unless @hits == 1;
	return $m->{ $hits[0] };
}

my $before;
my $deadline = time() + 60;
while (time() < $deadline)
{
	$before = scrape();
	last if defined value_of($before, 'snowflake_slot_ids_issued');
	usleep(200_000);
}
ok(defined value_of($before, 'snowflake_slot_ids_issued'),
	'the exporter serves the snowflake metrics')
  or diag("exporter stderr:\n$err");
foreach my $metric (
	qw(snowflake_slot_lease_held snowflake_slot_ms_minted
	snowflake_slot_ms_saturated snowflake_slot_saturation_ratio
	snowflake_slot_fencing_left_seconds snowflake_slot_renewal_age_seconds
	snowflake_server_clock_steps_back snowflake_server_clock_synchronized
	snowflake_server_time_field_left_seconds snowflake_server_lease_problem
	snowflake_server_fencing_margin_seconds snowflake_callers_ids
	snowflake_server_ids_on_spares
	snowflake_canary_sampled snowflake_canary_parked))
{
	ok(defined value_of($before, $metric), "metric $metric is exported");
}
is(value_of($before, 'snowflake_slot_lease_held', qr/lease_state="held"/), 1,
	'the slot holds its lease');
cmp_ok(value_of($before, 'snowflake_slot_fencing_left_seconds'), '>', 0,
	'time is left to the fencing deadline');
is(value_of($before, 'snowflake_server_lease_problem'), 0, 'the lease keeper has no problem');
is(value_of($before, 'snowflake_server_ids_on_spares'), 0,
	'no ID minted on a spare (clock_step_policy = refuse)');
is(value_of($before, 'snowflake_canary_parked'), 0, 'minting is not parked');
cmp_ok(value_of($before, 'snowflake_server_time_field_left_seconds'), '>', 60 * 365 * 86400,
	'the time field has decades left');

# Mint, saturate and step the clock back.
$node->safe_psql('postgres', 'SELECT count(*) FROM snowflake_batch(200000)');
my $steps = $node->safe_psql('postgres', 'SELECT max(clock_regressions) FROM snowflake_status');
set_clock($node, '+19.95');
ok( poll_until(
		$node, "SELECT max(clock_regressions) > $steps FROM snowflake_status", 30),
	'the guard sees the clock step back 50 ms');

my $after;
$deadline = time() + 30;
while (time() < $deadline)
{
	$after = scrape();
	last
	  if (value_of($after, 'snowflake_server_clock_steps_back') // 0) >
	  value_of($before, 'snowflake_server_clock_steps_back');
	usleep(200_000);
}
note "scrape after the batch and the step:\n"
  . join("\n", map { "$_ $after->{$_}" } sort grep { /^snowflake_(slot|server|canary)_/ } keys %$after);
cmp_ok(
	value_of($after, 'snowflake_slot_ids_issued') - value_of($before, 'snowflake_slot_ids_issued'),
	'>=', 200000, 'snowflake_slot_ids_issued rose by the batch');
cmp_ok(
	value_of($after, 'snowflake_slot_ms_saturated') - value_of($before, 'snowflake_slot_ms_saturated'),
	'>', 0, 'snowflake_slot_ms_saturated rose: one slot ran out of sequence numbers');
cmp_ok(value_of($after, 'snowflake_slot_saturation_ratio'), '>', 0,
	'snowflake_slot_saturation_ratio is above zero');
cmp_ok(
	value_of($after, 'snowflake_server_clock_steps_back') -
	  value_of($before, 'snowflake_server_clock_steps_back'),
	'>=', 1, 'snowflake_server_clock_steps_back counted the step');
cmp_ok(
	value_of($after, 'snowflake_callers_ids', qr/role="\Q${\ scalar getpwuid($<)}\E"/) // 0,
	'>=', 200000, 'snowflake_callers_ids counts the batch against its role');
cmp_ok(
	value_of($after, 'snowflake_canary_sampled') - value_of($before, 'snowflake_canary_sampled'),
	'>', 0, 'snowflake_canary_sampled rose: the canary sampled some of the batch');

$exporter->signal('TERM');
$exporter->finish;
$exporter = undef;
$node->stop;
done_testing();
