#!/usr/bin/perl
# Copyright (c) the snowflake authors
#
# One client of the soak (bench/soak/Soak.pm): mints IDs on one server of
# the fleet until a stop file appears, and records every ID a statement
# returned to it.
#
#   client.pl NAME MODE TARGET_FILE OUT_DIR STOP_FILE SEED MAX_BATCH [ORDER]
#
# MODE is the statement it runs:
#   batch   SELECT snowflake_batch(n)
#   row     SELECT snowflake_nextval() FROM generate_series(1, n)
#   insert  INSERT INTO soak_rows_NAME ... RETURNING id
#           (a table whose id column defaults to snowflake_nextval())
# with n drawn from SEED: up to MAX_BATCH for batch, a quarter of that per
# row, up to 50 rows per insert.  TARGET_FILE holds "host port" of the server to
# use, or "pause"; it is read again on every (re)connection, so the soak can
# move a client to a promoted standby.
#
# Writes OUT_DIR/NAME.ids, every ID returned as a 19-digit line (so that a
# byte-wise sort is a numeric one), and OUT_DIR/NAME.log, one line per
# statement or connection attempt:
#   T0 T1 ok N            a statement returned N IDs
#   T0 T1 err SQLSTATE    it failed
#   T0 T1 conn SQLSTATE   the connection failed or was lost
#   T0 T1 order PREV ID   an ID not above the previous one of its session
#   T0 T1 below PREV ID   the same, on a server with
#                         snowflake.clock_step_policy = spare (ORDER "spare"),
#                         where IDs minted on a spare after a step back are
#                         below those minted before it, by design
# (T0, T1: Unix seconds when the statement was sent and when it returned).
# A session is one connection: within it the IDs must strictly increase
# (ORDER "strict", the default), or may go down only across a step back
# (ORDER "spare").

use strict;
use warnings;

use DBI;
use IO::Handle;
use Time::HiRes qw(time usleep);

my ($name, $mode, $target_file, $out, $stop_file, $seed, $max_batch, $order) = @ARGV;
$order //= 'strict';
die "usage: client.pl NAME MODE TARGET_FILE OUT_DIR STOP_FILE SEED MAX_BATCH [strict|spare]\n"
  unless defined $max_batch && $mode =~ /^(batch|row|insert)$/
  && $order =~ /^(strict|spare)$/;
srand($seed);

open(my $ids, '>>', "$out/$name.ids") or die "$out/$name.ids: $!";
open(my $log, '>>', "$out/$name.log") or die "$out/$name.log: $!";
binmode($ids);

sub logline
{
	syswrite($log, join(' ', @_) . "\n");
	return;
}

sub stopped { return -e $stop_file; }

sub target
{
	open(my $fh, '<', $target_file) or return;
	my $line = <$fh>;
	close($fh);
	return unless defined $line;
	chomp $line;
	return if $line eq 'pause' || $line eq '';
	return split / /, $line;
}

sub draw_n
{
	return 1 + int(rand($max_batch)) if $mode eq 'batch';
	return 1 + int(rand($max_batch / 4)) if $mode eq 'row';
	return 1 + int(rand(50));
}

my $table = "soak_rows_" . ($name =~ tr/a-z0-9/_/cr);
my $rows_in_table = 0;

while (!stopped())
{
	my ($host, $port) = target();
	if (!defined $port)
	{
		usleep(20_000);
		next;
	}
	my $t0  = time();
	my $dbh = DBI->connect(
		"dbi:Pg:dbname=postgres;host=$host;port=$port;connect_timeout=2;application_name=soak-$name",
		'', '', { AutoCommit => 1, RaiseError => 0, PrintError => 0 });
	if (!$dbh)
	{
		logline($t0, time(), 'conn', $DBI::state || 'none');
		usleep(50_000);
		next;
	}
	if ($mode eq 'insert')
	{
		$dbh->do("SET client_min_messages = warning");
		$dbh->do("CREATE TABLE IF NOT EXISTS $table (id bigint PRIMARY KEY DEFAULT snowflake_nextval())");
	}
	my $last;
	my $statements = 0;
	while (!stopped())
	{
		my $n = draw_n();
		my $sql =
		    $mode eq 'batch' ? "SELECT snowflake_batch($n)"
		  : $mode eq 'row' ? "SELECT snowflake_nextval() FROM generate_series(1, $n)"
		  : "INSERT INTO $table SELECT FROM generate_series(1, $n) RETURNING id";
		$t0 = time();
		my $got = $dbh->selectcol_arrayref($sql);
		my $t1 = time();
		if ($got)
		{
			my $buf = '';
			foreach my $id (@$got)
			{
				logline($t0, $t1, $order eq 'spare' && $id < $last ? 'below' : 'order',
					$last, $id)
				  if defined $last && $id <= $last;
				$last = $id;
				$buf .= sprintf("%019d\n", $id);
			}
			syswrite($ids, $buf);
			logline($t0, $t1, 'ok', scalar(@$got));
			$rows_in_table += @$got;
			if ($mode eq 'insert' && $rows_in_table > 200_000)
			{
				$dbh->do("TRUNCATE $table");
				$rows_in_table = 0;
			}
			next;
		}
		my $state = $dbh->state || 'none';
		if (!$dbh->ping)
		{
			logline($t0, $t1, 'conn', $state);
			last;
		}
		logline($t0, $t1, 'err', $state);
		usleep(20_000);
	}
	$dbh->disconnect if $dbh;
}
close($ids);
close($log);
exit 0;
