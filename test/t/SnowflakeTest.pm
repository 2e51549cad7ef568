
# Copyright (c) the snowflake authors
#
# Helpers shared by the clock guard and high-water mark TAP tests
# (test/t/010_* to 016_*): nodes that preload snowflake, a faked wall clock
# per node (libfaketime), minting that reports its SQLSTATE, pgbench load in
# the background, and the checks every test makes on the IDs it minted.
#
# Every test stores its IDs in a table
#
#   ids (n bigserial, run int, client int, id bigint)
#
# where (run, client) names the session that minted the ID and n gives the
# order of the calls within a session, so check_ids() can assert that no ID
# was minted twice and that each session's IDs strictly increase.

package SnowflakeTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use POSIX qw(strftime);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  $FAKETIME_LIB
  require_faketime
  new_node
  set_clock
  freeze_clock
  server_clock
  decode_id
  with_faked_clock
  start_faked
  fake_guard
  poll_until
  try_sql
  sqlstate_of
  wait_for_mint
  setup_ids
  check_ids
  start_pgbench
  finish_pgbench
  run_pgbench
  start_mint_loops
  finish_mint_loops
  guard_pid
  worker_pid
  keeper_pid
  fake_workers
  try_sql_as
  proc_stat
  proc_state
  children_of
  id_array
  @frozen
  thaw
  status_value
  mark_loaded_after
  stored_mark_ms
);

# Processes a test stopped with SIGSTOP (push their PIDs here): resumed by
# thaw(), and whatever happens (a failed assertion, a die) before the
# framework stops the servers, since this module's END block runs before
# PostgreSQL::Test::Cluster's.
our @frozen;

sub thaw
{
	kill('CONT', @frozen) if @frozen;
	@frozen = ();
	return;
}

END { thaw(); }

our $FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

# Skip the whole file when libfaketime is not installed.
sub require_faketime
{
	plan skip_all => "libfaketime not found at $FAKETIME_LIB"
	  unless -e $FAKETIME_LIB;
	return;
}

# A node that preloads snowflake; %opts: init => {...} for $node->init,
# conf => extra postgresql.conf lines.
sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'snowflake'\n" . ($opts{conf} // ''));
	return $node;
}

sub clock_file
{
	my ($node) = @_;
	return $node->basedir . '/faketime_offset';
}

# Replace the node's libfaketime offset file with $content, atomically, so
# that a reader never sees it half written.
sub write_clock_file
{
	my ($node, $content) = @_;
	my $file = clock_file($node);
	my $tmp  = "$file.tmp";
	open(my $fh, '>', $tmp) or die "could not write $tmp: $!";
	print $fh "$content\n";
	close($fh) or die "could not close $tmp: $!";
	rename($tmp, $file) or die "could not rename $tmp: $!";
	return;
}

# Set the offset of the node's faked wall clock from the real one, in
# libfaketime's relative form: "+0", "-0.005" (5 ms back), "-10", "+5".
sub set_clock
{
	my ($node, $offset) = @_;
	write_clock_file($node, $offset);
	note "clock of node " . $node->name . " set to real time $offset s";
	return;
}

# Freeze the node's faked wall clock at Unix time $epoch (whole seconds):
# libfaketime's absolute form without '@' stops the clock there.
sub freeze_clock
{
	my ($node, $epoch) = @_;
	my $stamp = strftime('%Y-%m-%d %H:%M:%S', localtime($epoch));
	write_clock_file($node, $stamp);
	note "clock of node " . $node->name . " frozen at $stamp";
	return;
}

# The wall clock a backend of $node reads, in Unix microseconds.
sub server_clock
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		'SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint');
}

# Worker ID, sequence and time (Unix milliseconds) of $id.
sub decode_id
{
	my ($node, $id) = @_;
	return split /\|/,
	  $node->safe_psql('postgres',
		"SELECT snowflake_worker_id($id), snowflake_sequence($id),
		        (extract(epoch FROM snowflake_timestamp($id)) * 1000)::bigint");
}

# Run $code (which starts or restarts the node's server) with the server
# under libfaketime, its clock at $offset (if given) from the real one.
# Clients (psql, pgbench) started later run on the real clock.
sub with_faked_clock
{
	my ($node, $offset, $code) = @_;
	set_clock($node, $offset) if defined $offset;
	local $ENV{LD_PRELOAD}                   = $FAKETIME_LIB;
	local $ENV{FAKETIME_TIMESTAMP_FILE}      = clock_file($node);
	local $ENV{FAKETIME_NO_CACHE}            = '1';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = '1';
	return $code->();
}

# Start (or restart: $how = 'restart') the node's server with its clock at
# $offset from the real one, then make sure the guard worker runs on the
# faked clock too (see fake_guard).
sub start_faked
{
	my ($node, $offset, $how) = @_;
	$how //= 'start';
	with_faked_clock($node, $offset, sub { $node->$how });
	fake_guard($node);
	return;
}

# libfaketime leaves a process unfaked if it was forked while the parent was
# inside one of libfaketime's wrappers (the PostgreSQL 15 postmaster starts
# background workers from its signal handlers, which interrupt its select(),
# a call libfaketime wraps with faking switched off): the workers started
# with the server, or after a crash restart, read the real clock.  Workers
# the postmaster restarts from its main loop are faked, so stop the guard
# and the lease keeper (which releases its leases on the way out) and let
# the postmaster start them again, then check that their start times (taken
# from the clock of each worker itself) agree with the faked clock of a
# backend.  Both must follow the faked clock: the keeper's wall clock caps
# what the slots may mint.  Meaningful when the offset is 10 s or more.
sub fake_guard
{
	my ($node) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return fake_workers($node, 'snowflake guard', 'snowflake lease keeper');
}

# Restart the workers of @types together, again for those still on the
# real clock.  Together, because each restart can take long: the
# postmaster's signal handler stamps a worker's exit with the real time and
# its main loop restarts the worker once its own, faked, clock is
# bgw_restart_time (1 s) past that, so a clock set back by N seconds delays
# every restart by N seconds.
sub fake_workers
{
	my ($node, @types) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	foreach my $attempt (1 .. 3)
	{
		my @old;
		foreach my $type (@types)
		{
			my $pid = '';
			my $deadline = time() + 30;
			while (($pid = worker_pid($node, $type)) eq '' && time() < $deadline)
			{
				usleep(100_000);
			}
			die "no $type worker on node " . $node->name if $pid eq '';
			push @old, $pid;
		}
		kill('TERM', @old);
		my $types = join(', ', map { "'$_'" } @types);
		my ($n, $olds) = (scalar(@types), join(', ', @old));
		poll_until(
			$node, qq{
			SELECT count(*) = $n FROM pg_stat_activity
			WHERE backend_type IN ($types) AND pid NOT IN ($olds)},
			90)
		  or die "the workers ($types) of node " . $node->name . " did not come back";
		# a worker's start time, taken on its own clock, is off the faked
		# clock of this backend by the offset if it reads the real clock
		@types = split /\n/, $node->safe_psql(
			'postgres', qq{
			SELECT backend_type FROM pg_stat_activity
			WHERE backend_type IN ($types)
			  AND abs(extract(epoch FROM now() - backend_start)) >= 5
			ORDER BY 1});
		return 1 unless @types;
		note join(', ', @types) . ' of node ' . $node->name
		  . " still on the real clock, restarting again";
	}
	fail(join(', ', @types) . ' of node ' . $node->name . ' run on the faked clock');
	return 0;
}

# Run $sql until it returns 't', at most $timeout seconds (default 30).
sub poll_until
{
	my ($node, $sql, $timeout) = @_;
	my $deadline = time() + ($timeout // 30);
	my $last;
	while (1)
	{
		my $r = try_sql($node, $sql);
		return 1 if $r->{ret} == 0 && $r->{out} eq 't';
		$last = $r;
		last if time() > $deadline;
		usleep(100_000);
	}
	note "poll timed out: $sql\nlast output: $last->{out}\nstderr: $last->{err}";
	return 0;
}

# Run SQL with VERBOSITY verbose and on_error_stop; returns a hash with
# ret (psql's exit code), out, err and sqlstate (of the first ERROR, or
# undef).
# Run $sql through psql from a script file, with verbose errors and
# ON_ERROR_STOP.  The script is a file rather than psql's stdin: a session
# the server refuses at connect time (a FATAL for a bad connection option,
# say) makes psql exit before it reads stdin, and IPC::Run then dies writing
# to a closed pipe instead of returning psql's exit status and stderr.
# PostgreSQL::Test::Cluster always reads '-f -' first; that stdin is empty.
my $script_seq = 0;
my $script_dir;

sub run_psql_script
{
	my ($node, $db, $sql, %psql_opts) = @_;
	$script_dir //= PostgreSQL::Test::Utils::tempdir();
	my $file = "$script_dir/script_" . ++$script_seq . '.sql';
	open(my $fh, '>', $file) or die "cannot write $file: $!";
	print $fh "\\set VERBOSITY verbose\n$sql\n";
	close($fh);
	my ($ret, $out, $err) = $node->psql(
		$db, '',
		extra_params  => [ '-f', $file ],
		on_error_stop => 1,
		%psql_opts);
	unlink($file);
	return {
		ret      => $ret,
		out      => $out // '',
		err      => $err // '',
		sqlstate => sqlstate_of($err),
	};
}

sub try_sql
{
	my ($node, $sql, %opts) = @_;
	return run_psql_script($node, $opts{dbname} // 'postgres', $sql,
		timeout => $opts{timeout} // $PostgreSQL::Test::Utils::timeout_default);
}

# try_sql as role $role; %opts: dbname, options (PGOPTIONS of the session).
sub try_sql_as
{
	my ($node, $role, $sql, %opts) = @_;
	my $db = $opts{dbname} // 'postgres';
	local $ENV{PGOPTIONS} = $opts{options} if defined $opts{options};
	return run_psql_script($node, $db, $sql,
		connstr => $node->connstr($db) . " user=$role");
}

sub sqlstate_of
{
	my ($err) = @_;
	return $1 if defined $err && $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return undef;
}

# Call snowflake_nextval() until it succeeds, at most $timeout seconds.
# Returns a hash: ok, id (the ID minted), seconds (until it worked), states
# (SQLSTATE => how many times each refusal was seen, in a hash), errors (the
# distinct error messages, in order) and first_err (stderr of the first
# failure).
sub wait_for_mint
{
	my ($node, %opts) = @_;
	my $timeout = $opts{timeout} // 60;
	my $sql     = $opts{sql} // 'SELECT snowflake_nextval()';
	my $start   = time();
	my (%states, @errors, %seen_error, $first_err);
	while (1)
	{
		my $r = try_sql($node, $sql);
		if ($r->{ret} == 0)
		{
			return {
				ok        => 1,
				id        => $r->{out},
				seconds   => time() - $start,
				states    => \%states,
				errors    => \@errors,
				first_err => $first_err,
			};
		}
		my $state = $r->{sqlstate} // "psql exit $r->{ret}";
		$states{$state}++;
		$first_err //= $r->{err};
		my ($msg) = $r->{err} =~ /^(ERROR:.*)$/m;
		$msg //= $r->{err};
		push @errors, $msg unless $seen_error{$msg}++;
		last if time() - $start > $timeout;
		usleep(50_000);
	}
	diag "minting did not resume within $timeout s; errors seen:\n"
	  . join("\n", @errors);
	return {
		ok        => 0,
		seconds   => time() - $start,
		states    => \%states,
		errors    => \@errors,
		first_err => $first_err,
	};
}

# The extension, the ids table and mint_until_error(max_calls, pause):
# mint in one session until an error (or max_calls IDs), pausing "pause"
# seconds between calls; returns the IDs minted in call order, and the
# SQLSTATE, message and detail of the error that stopped it.  It writes
# nothing, so it can run while the guard worker is stopped.
sub setup_ids
{
	my ($node) = @_;
	$node->safe_psql(
		'postgres', q{
		CREATE EXTENSION snowflake;
		CREATE TABLE ids (
			n bigserial PRIMARY KEY,
			run integer NOT NULL,
			client integer NOT NULL,
			id bigint NOT NULL);
		CREATE PROCEDURE mint_for(seconds float8, run_no integer,
				client_no integer)
		LANGUAGE plpgsql AS $$
		DECLARE
			t0 timestamptz := clock_timestamp();
		BEGIN
			LOOP
				INSERT INTO ids (run, client, id)
					VALUES (run_no, client_no, snowflake_nextval());
				COMMIT;
				EXIT WHEN clock_timestamp() - t0 >= make_interval(secs => seconds);
			END LOOP;
		END $$;
		CREATE FUNCTION mint_until_error(max_calls integer,
				pause float8 DEFAULT 0,
				OUT minted bigint[], OUT state text, OUT msg text,
				OUT detail text)
		LANGUAGE plpgsql AS $$
		BEGIN
			minted := '{}';
			BEGIN
				FOR i IN 1 .. max_calls LOOP
					minted := minted || snowflake_nextval();
					IF pause > 0 THEN
						PERFORM pg_sleep(pause);
					END IF;
				END LOOP;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
					msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
			END;
		END $$;
	});
	return;
}

# No ID in table ids was minted twice, and every session's IDs increase in
# call order.
sub check_ids
{
	my ($node, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($total, $distinct) = split /\|/,
	  $node->safe_psql('postgres',
		'SELECT count(*), count(DISTINCT id) FROM ids');
	cmp_ok($total, '>', 0, "$what: IDs were minted ($total)");
	is($distinct, $total, "$what: no ID was minted twice");
	my $bad = $node->safe_psql(
		'postgres', q{
		SELECT count(*) FROM (
			SELECT id, lag(id) OVER (PARTITION BY run, client ORDER BY n) AS prev
			FROM ids) s
		WHERE id <= prev});
	is($bad, '0', "$what: each session's IDs strictly increase");
	return;
}

# Start pgbench in the background: $clients sessions, for $seconds,
# each transaction inserting one ID minted by snowflake_nextval() with
# run = $run, client = pgbench's client_id (application_name 'pgbench'), or
# running the statement $opts{sql} instead.
# Returns a handle for
# finish_pgbench.
sub start_pgbench
{
	my ($node, %opts) = @_;
	my $clients = $opts{clients} // 4;
	my $seconds = $opts{seconds} // 4;
	my $run     = $opts{run}     // 1;
	my $sql     = $opts{sql}
	  // "INSERT INTO ids (run, client, id) VALUES (:run, :client_id, snowflake_nextval());";
	my $script = $node->basedir . "/mint_$run.sql";
	open(my $fh, '>', $script) or die "could not write $script: $!";
	print $fh "$sql\n";
	close($fh);

	my %h = (out => '', err => '');
	local $ENV{PGHOST}     = $node->host;
	local $ENV{PGPORT}     = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	local $ENV{PGAPPNAME}  = 'pgbench';
	delete local $ENV{LD_PRELOAD};
	my @cmd = (
		'pgbench', '-n', '-c', $clients, '-j', ($clients > 1 ? 2 : 1),
		'-T', $seconds, '-D', "run=$run", '-f', $script);
	note "running: @cmd";
	$h{timer} = IPC::Run::timer($seconds + $PostgreSQL::Test::Utils::timeout_default);
	$h{handle} = IPC::Run::start(\@cmd, '<', \undef, '>', \$h{out}, '2>', \$h{err},
		$h{timer});
	return \%h;
}

# Wait for a background pgbench; returns its exit code, stdout, stderr.
sub finish_pgbench
{
	my ($h) = @_;
	eval { $h->{handle}->finish; };
	if ($@)
	{
		diag "pgbench: $@";
		$h->{handle}->kill_kill;
		return (-1, $h->{out}, $h->{err});
	}
	return ($h->{handle}->result(0), $h->{out}, $h->{err});
}

sub run_pgbench
{
	return finish_pgbench(start_pgbench(@_));
}

# Mint in the background like start_pgbench (table ids, run $opts{run},
# clients 0 .. $opts{clients} - 1, for $opts{seconds}), but each client is
# one psql running CALL mint_for(), which commits every ID and never goes
# idle between them.  Under libfaketime this matters: an idle backend arms
# PostgreSQL's stats-flush timer, whose SIGALRM handler reads the clock,
# which libfaketime answers by opening its offset file; that handler can
# interrupt the same call in the main code, which corrupts the heap.  Each
# client first sleeps 1.1 s (opts{settle}, default on), so that a timer
# armed by its connection has fired before minting starts.  Returns a
# handle for finish_mint_loops.
sub start_mint_loops
{
	my ($node, %opts) = @_;
	my $clients = $opts{clients} // 2;
	my $seconds = $opts{seconds} // 4;
	my $run     = $opts{run}     // 1;
	my $settle  = $opts{settle}  // 1;
	my @loops;
	local $ENV{PGHOST}     = $node->host;
	local $ENV{PGPORT}     = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	delete local $ENV{LD_PRELOAD};
	foreach my $client (0 .. $clients - 1)
	{
		my %h = (out => '', err => '');
		my @cmd = ('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1');
		push @cmd, '-c', 'SELECT pg_sleep(1.1)' if $settle;
		push @cmd, '-c', "CALL mint_for($seconds, $run, $client)";
		$h{handle} = IPC::Run::start(\@cmd, '<', \undef, '>', \$h{out},
			'2>', \$h{err},
			IPC::Run::timer($seconds + $PostgreSQL::Test::Utils::timeout_default));
		push @loops, \%h;
	}
	return \@loops;
}

# Wait for the loops of start_mint_loops; returns the number of clients
# that failed and their stderr.
sub finish_mint_loops
{
	my ($loops) = @_;
	my ($failed, $err) = (0, '');
	foreach my $h (@$loops)
	{
		my $ok = eval { $h->{handle}->finish; 1 };
		if (!$ok || $h->{handle}->result(0) != 0)
		{
			$failed++;
			$err .= $h->{err} . ($@ // '');
			$h->{handle}->kill_kill unless $ok;
		}
	}
	return ($failed, $err);
}

# PID of the "snowflake guard" background worker, or '' if not running.
sub guard_pid
{
	my ($node) = @_;
	return worker_pid($node, 'snowflake guard');
}

# PID of the background worker of type $type, or '' if not running.
sub worker_pid
{
	my ($node, $type) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = '$type'");
}

# One aggregate over snowflake_status, e.g. status_value($node, 'sum(waits_clock)').
sub status_value
{
	my ($node, $expr) = @_;
	return $node->safe_psql('postgres', "SELECT $expr FROM snowflake_status");
}

# The durable mark the guard loaded at its last start after log offset
# $offset ("minting resumes above the durable high-water mark ..."), as the
# timestamp text the server logged, or undef.
sub mark_loaded_after
{
	my ($node, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my @marks = $log =~
	  /snowflake: minting resumes above the durable high-water mark ([^\n]+)/g;
	return @marks ? $marks[-1] : undef;
}

# The durable high-water mark stored in snowflake_state.server_state of
# $node, in Unix milliseconds ('' before the guard first stored one).
sub stored_mark_ms
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT (extract(epoch FROM high_water_mark) * 1000)::int8 FROM snowflake_state.server_state");
}

# PID of the "snowflake lease keeper" background worker, or ''.
sub keeper_pid
{
	my ($node) = @_;
	return worker_pid($node, 'snowflake lease keeper');
}

# State letter (R, S, T, ...) and parent PID of $pid, from /proc/PID/stat;
# an empty list if the process is gone.
sub proc_stat
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return;
	my $line = <$fh>;
	close($fh);
	return unless defined $line;
	# "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	my $rest = substr($line, rindex($line, ')') + 2);
	my ($state, $ppid) = split / /, $rest;
	return ($state, $ppid);
}

# State letter of $pid, or '' if it is gone.
sub proc_state
{
	my ($pid) = @_;
	my ($state) = proc_stat($pid);
	return $state // '';
}

# PIDs of the children of $pid.
sub children_of
{
	my ($pid) = @_;
	my @kids;
	opendir(my $dh, '/proc') or die "could not read /proc: $!";
	foreach my $p (grep { /^\d+$/ } readdir($dh))
	{
		my (undef, $ppid) = proc_stat($p);
		push @kids, $p if defined $ppid && $ppid == $pid;
	}
	closedir($dh);
	return @kids;
}

# A bigint[] literal of the IDs given, for SQL.
sub id_array
{
	return "'{" . join(',', @_) . "}'::bigint[]";
}

1;
