
# Copyright (c) the snowflake authors
#
# An ordinary role cannot subvert the extension (SPEC.md, guarantee 12):
# nothing a role without superuser rights can create, lock or write changes
# what the background workers execute, and nothing it does stops minting for
# more than one retry.
#
# The adversary is the role mallory: LOGIN, no superuser, CREATE on schema
# public and on database postgres, which is snowflake.database (embedded
# leases: no snowflake.coordinator).  Every route it has is tried, and after
# each the test checks that mallory is not a superuser, that the leases are
# still the ones the lease keeper made, and that minting goes on:
#
#  a. Shadowing what the workers' SQL calls.  An operator or function that
#     matches a call's argument types exactly wins over pg_catalog's when
#     pg_catalog has no exact match: *(bigint, interval) and
#     *(numeric, integer) (the workers compute timestamps with
#     $n::int8 * interval '1 millisecond' and extract(epoch ...) * 1000), and
#     format(text, text, integer, ...).  mallory puts them in public and in a
#     schema named after the bootstrap superuser ("$user" of the workers'
#     default search_path); each tries ALTER ROLE mallory SUPERUSER, logs
#     who ran it, and returns the right result.  The workers renew leases and
#     advance the mark for several rounds while the server mints.
# a2. The same shadows against the SQL the extension's own functions run in
#     the caller's session (decoding with a named layout reads the layout
#     with extract(epoch ...) * 1000): a superuser decodes an ID, and none
#     of mallory's code runs in its session.
#  b. Squatting the workers' schema: on a server where the workers have never
#     run, mallory creates schema snowflake_state with look-alike
#     server_state and worker_lease tables whose triggers try the same.  The
#     workers must not use them: minting refuses (SF007 or SF002), with a
#     detail that names the owner, mallory.
#  c. Advisory locks on every key the extension uses, (1397641047, -1) and
#     (1397641047, w) for w in 0..1023: held in a prepared transaction (which
#     survives a restart) and in a session that stays open, across a restart
#     (the guard loads its mark, the keeper leases from scratch) and across
#     the lease keeper's termination.  Minting resumes within seconds and
#     then goes on without a refusal.
#  d. Every snowflake.* setting, through SET, set_config(), ALTER ROLE
#     mallory SET, ALTER SYSTEM and connection options: all refused.
#  e. Writes to snowflake_state.worker_lease, snowflake_state.server_state
#     and the extension's snowflake_layout (INSERT, UPDATE, DELETE, TRUNCATE,
#     triggers, ownership), snowflake_define_layout(), new objects in schema
#     snowflake_state, and signals to the workers: all refused.
#  f. At the end: mallory is not a superuser and no code of mallory's ever
#     ran in a worker or as a superuser; the live lease rows are the ones the
#     keeper logged it leased, held by this server; minting works; no ID
#     minted during the test was minted twice.

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

# First key of the advisory locks the extension takes.
my $LOCK_KEY = 1397641047;

# Short lease timings (FleetTest's %FAST_LEASES) and a short horizon, so
# that leases are renewed every second and the mark advances often.
my $CONF = join('',
	map { "$_ = '$FleetTest::FAST_LEASES{$_}'\n" } sort keys %FleetTest::FAST_LEASES)
  . "snowflake.high_water_horizon = '200ms'\n";

# Local helpers.

sub is_superuser
{
	my ($node, $role) = @_;
	return $node->safe_psql('postgres',
		"SELECT rolsuper FROM pg_roles WHERE rolname = '$role'");
}

# The first ERROR or FATAL of psql's stderr, without psql's prefixes.
sub first_line
{
	my ($err) = @_;
	my ($line) = $err =~ /((?:ERROR|FATAL):.*)$/m;
	return $line // $err;
}

# Lease rows as "worker_id|fencing_token|holder_pid|acquired_at|released"
# lines (renewal moves renewed_at and expires_at only).
sub lease_snapshot
{
	my ($node) = @_;
	return $node->safe_psql(
		'postgres', q{
		SELECT worker_id, fencing_token, holder_pid, acquired_at, released_at IS NOT NULL
		  FROM snowflake_state.worker_lease ORDER BY worker_id});
}

# Mint in one session: $calls IDs, $pause s apart, stored in ids as run
# $run.  Returns (IDs stored, SQLSTATE or '', message, detail) of the
# error that stopped it early.
my $run = 0;

sub mint_session
{
	my ($node, $calls, $pause) = @_;
	$run++;
	my $out = $node->safe_psql(
		'postgres', qq{
		WITH m AS MATERIALIZED (SELECT * FROM mint_until_error($calls, $pause)),
		ins AS (
			INSERT INTO ids (run, client, id)
			SELECT $run, 0, t.id
			  FROM m, unnest(m.minted) WITH ORDINALITY AS t(id, o)
			 ORDER BY t.o
			RETURNING 1)
		SELECT (SELECT count(*) FROM ins), coalesce(state, ''),
		       coalesce(msg, ''), coalesce(detail, '')
		  FROM m});
	return split /\|/, $out, 4;
}

# wait_for_mint, with the ID it minted (if any) stored in ids.
sub mint_soon
{
	my ($node, %opts) = @_;
	my $w = wait_for_mint($node, %opts);
	if ($w->{ok})
	{
		$run++;
		$node->safe_psql('postgres',
			"INSERT INTO ids (run, client, id) VALUES ($run, 0, $w->{id})");
	}
	return $w;
}

# The first 20 lines the extension logged after log offset $offset.
sub snowflake_log
{
	my ($node, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my @lines = grep { /snowflake:/ } split /\n/, $log;
	splice(@lines, 20) if @lines > 20;
	return join("\n", @lines);
}

sub refusals_text
{
	my ($w) = @_;
	return join(', ', map { "$_ x$w->{states}{$_}" } sort keys %{ $w->{states} });
}

# ---------------------------------------------------------------------
# The server under attack, and mallory.
# ---------------------------------------------------------------------

# Room in the lock table for two holders of 1025 advisory locks each, and
# prepared transactions: settings an operator may well have.
my $node = new_node('adversary',
	conf => $CONF . "max_prepared_transactions = 2\nmax_locks_per_transaction = 256\n");
$node->start;
setup_ids($node);
my $super = $node->safe_psql('postgres', 'SELECT rolname FROM pg_roles WHERE oid = 10');
$node->safe_psql(
	'postgres', q{
	CREATE ROLE mallory LOGIN;
	GRANT CREATE ON SCHEMA public TO mallory;
	GRANT CREATE ON DATABASE postgres TO mallory;
});
is($node->safe_psql('postgres', 'SHOW snowflake.database'),
	'postgres', 'snowflake.database is postgres, where mallory has CREATE');
is($node->safe_psql('postgres', 'SHOW snowflake.coordinator'),
	'', 'leases are embedded (no snowflake.coordinator)');
my $w = mint_soon($node, timeout => 30);
ok($w->{ok}, 'the server mints before the attack');
ok( poll_until(
		$node,
		"SELECT count(*) FILTER (WHERE lease_state = 'held') = 8 FROM snowflake_status",
		15),
	'8 slots hold leases before the attack');
is(is_superuser($node, 'mallory'), 'f', 'mallory starts as an ordinary role');

# mallory's log: who ran mallory's code, in which process, doing what, and
# whether it made mallory a superuser.  Anyone may append to it.
my $r = try_sql_as(
	$node, 'mallory', q{
	CREATE TABLE public.mallory_log (
		at timestamptz NOT NULL DEFAULT clock_timestamp(),
		via text NOT NULL,
		run_as name NOT NULL DEFAULT current_user,
		backend_type text,
		query text,
		escalated boolean NOT NULL);
	GRANT INSERT ON public.mallory_log TO PUBLIC;
	CREATE FUNCTION public.mallory_strike(via text) RETURNS void
	LANGUAGE plpgsql SECURITY INVOKER AS $f$
	DECLARE
		ok boolean := true;
	BEGIN
		BEGIN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		EXCEPTION WHEN OTHERS THEN
			ok := false;
		END;
		BEGIN
			INSERT INTO public.mallory_log (via, backend_type, query, escalated)
			SELECT via, a.backend_type, a.query, ok
			  FROM pg_catalog.pg_stat_activity a
			 WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
	END $f$;
	GRANT EXECUTE ON FUNCTION public.mallory_strike(text) TO PUBLIC;
});
is($r->{ret}, 0, 'mallory creates her log and her payload in schema public')
  or diag $r->{err};

# Rows of mallory's log written by anything but mallory's own sessions,
# counted by payload, process and statement.
my $foreign_runs = q{
	SELECT string_agg(format('%s x%s: ran as %s in "%s" (escalated: %s) during: %s',
	                         via, n, run_as, backend_type, escalated, stmt),
	                  E'\n' ORDER BY first)
	  FROM (SELECT via, run_as, backend_type, escalated,
	               left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS stmt,
	               count(*) AS n, min(at) AS first
	          FROM public.mallory_log
	         WHERE run_as <> 'mallory' OR backend_type IS DISTINCT FROM 'client backend'
	         GROUP BY 1, 2, 3, 4, 5) s};

# ---------------------------------------------------------------------
# a. Operators and functions that shadow what the workers call.
#    Guarantee 12: nothing an ordinary role creates changes what the
#    workers execute.
# ---------------------------------------------------------------------
subtest 'a. shadowing operators and functions' => sub {
	my $r = try_sql_as(
		$node, 'mallory', qq{
		-- bigint * interval: lease expiry and minting_until
		CREATE FUNCTION public.mallory_mul(a bigint, b interval) RETURNS interval
		LANGUAGE plpgsql SECURITY INVOKER AS \$f\$
		BEGIN
			PERFORM public.mallory_strike('*(bigint, interval) in public');
			RETURN a OPERATOR(pg_catalog.*) b;
		END \$f\$;
		CREATE OPERATOR public.* (LEFTARG = bigint, RIGHTARG = interval,
			FUNCTION = public.mallory_mul);

		-- numeric * integer: extract(epoch ...) * 1000 and * 1000000, in a
		-- schema named after the bootstrap superuser ("\$user")
		CREATE SCHEMA "$super";
		GRANT USAGE ON SCHEMA "$super" TO PUBLIC;
		CREATE FUNCTION "$super".mallory_nmul(a numeric, b integer) RETURNS numeric
		LANGUAGE plpgsql SECURITY INVOKER AS \$f\$
		BEGIN
			PERFORM public.mallory_strike('*(numeric, integer) in schema $super');
			RETURN a OPERATOR(pg_catalog.*) b::numeric;
		END \$f\$;
		CREATE OPERATOR "$super".* (LEFTARG = numeric, RIGHTARG = integer,
			FUNCTION = "$super".mallory_nmul);

		-- format() with the exact types of the keeper's description of a
		-- lease holder beats pg_catalog.format(text, VARIADIC "any")
		CREATE FUNCTION public.format(text, text, integer, text, text, integer, timestamptz)
		RETURNS text LANGUAGE plpgsql SECURITY INVOKER AS \$f\$
		BEGIN
			PERFORM public.mallory_strike('format(text, text, integer, ...) in public');
			RETURN pg_catalog.format(\$1, \$2, \$3, \$4, \$5, \$6, \$7);
		END \$f\$;
	});
	is($r->{ret}, 0, 'mallory creates the shadowing operators and functions')
	  or diag $r->{err};

	my $started = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	my $leases_before = lease_snapshot($node);
	my $mark_before = $node->safe_psql('postgres',
		'SELECT high_water_mark FROM snowflake_state.server_state');

	# Mint for about 4 s while the keeper renews (every second) and the
	# guard advances the mark.
	my ($n, $state, $msg, $detail) = mint_session($node, 200, 0.02);
	is($state, '', 'minting never refused while the shadows were in place')
	  or diag "$state: $msg ($detail)";
	cmp_ok($n, '>=', 100, "IDs were minted meanwhile ($n)");
	ok( poll_until(
			$node, qq{
			SELECT count(*) = 8 AND bool_and(renewed_at > timestamptz '$started' + interval '3 s')
			  FROM snowflake_state.worker_lease WHERE released_at IS NULL},
			15),
		'every lease was renewed for 3 s or more with the shadows in place');
	ok( poll_until(
			$node, qq{
			SELECT high_water_mark > timestamptz '$mark_before' + interval '1 s'
			  FROM snowflake_state.server_state},
			15),
		'the durable mark advanced meanwhile');

	is(is_superuser($node, 'mallory'), 'f', 'mallory is not a superuser');
	my $runs = $node->safe_psql('postgres', $foreign_runs);
	is($runs, '', "no code of mallory's ran in a worker or as another role")
	  or diag "mallory's log:\n$runs";
	is(lease_snapshot($node), $leases_before,
		'the leases are unchanged (worker IDs, fencing tokens, holder, acquired_at)');
};

# ---------------------------------------------------------------------
# a2. The same shadows against the SQL the extension's functions run in
#     the caller's session: decoding with a named layout reads it from
#     snowflake_layout (extract(epoch ...) * 1000).  A superuser decodes;
#     its own statement uses no operator mallory shadows.
#     Guarantee 12 (what an ordinary role creates changes nothing the
#     extension executes), beyond the workers.
# ---------------------------------------------------------------------
subtest "a2. shadows against the extension's SQL in a superuser's session" => sub {
	$node->safe_psql('postgres',
		"SELECT snowflake_define_layout('adv_layout', '2020-01-01', 41, 10, 12)");
	my $before = $node->safe_psql('postgres',
		"SELECT count(*) FROM public.mallory_log WHERE backend_type = 'client backend'");
	my $id = $node->safe_psql('postgres', 'SELECT snowflake_nextval()');
	$run++;
	$node->safe_psql('postgres', "INSERT INTO ids (run, client, id) VALUES ($run, 0, $id)");
	# a new session: the layout is read from the table, not from a cache
	my $ts = $node->safe_psql('postgres',
		"SELECT snowflake_timestamp($id, 'adv_layout') IS NOT NULL");
	is($ts, 't', 'a superuser decodes an ID with a named layout');
	my $runs = $node->safe_psql(
		'postgres', qq{
		SELECT string_agg(format('%s: ran as %s (escalated: %s) during: %s',
		                         via, run_as, escalated, left(query, 90)), E'\\n')
		  FROM (SELECT * FROM public.mallory_log WHERE backend_type = 'client backend'
		         ORDER BY at OFFSET $before) s
		 WHERE run_as <> 'mallory'});
	is($runs, '', "no code of mallory's ran in the superuser's session")
	  or diag "mallory's log:\n$runs";
};

# ---------------------------------------------------------------------
# b. Squatting schema snowflake_state before the workers first run.
#    Guarantee 12: the workers check the owner of the state schema and
#    tables, and refuse what an ordinary role owns.
# ---------------------------------------------------------------------
subtest 'b. squatted schema snowflake_state' => sub {
	my $sq = PostgreSQL::Test::Cluster->new('adversary_squat');
	$sq->init;
	# the library is not loaded yet: the workers have never run
	$sq->append_conf('postgresql.conf', $CONF . "snowflake.database = 'appdb'\n");
	$sq->start;
	$sq->safe_psql(
		'postgres', q{
		CREATE ROLE mallory LOGIN;
		CREATE DATABASE appdb;
		GRANT CREATE ON DATABASE appdb TO mallory;
	});
	my $r = try_sql_as(
		$sq, 'mallory', q{
		CREATE SCHEMA snowflake_state;
		CREATE TABLE snowflake_state.server_state (
			only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
			high_water_mark timestamptz,
			recorded_layout text NOT NULL,
			updated_at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE snowflake_state.worker_lease (
			worker_id integer PRIMARY KEY CHECK (worker_id >= 0),
			holder_system_id text NOT NULL,
			holder_host text NOT NULL,
			holder_port integer NOT NULL,
			holder_cluster_name text NOT NULL,
			holder_pid integer NOT NULL,
			acquired_at timestamptz NOT NULL,
			renewed_at timestamptz NOT NULL,
			expires_at timestamptz NOT NULL,
			fencing_token bigint NOT NULL,
			last_minted_at timestamptz,
			minting_until timestamptz,
			released_at timestamptz);
		CREATE TABLE snowflake_state.mallory_log (
			at timestamptz NOT NULL DEFAULT clock_timestamp(),
			via text NOT NULL,
			run_as name NOT NULL DEFAULT current_user,
			backend_type text,
			escalated boolean NOT NULL);
		CREATE FUNCTION snowflake_state.mallory_trigger() RETURNS trigger
		LANGUAGE plpgsql SECURITY INVOKER AS $f$
		DECLARE
			ok boolean := true;
		BEGIN
			BEGIN
				EXECUTE 'ALTER ROLE mallory SUPERUSER';
			EXCEPTION WHEN OTHERS THEN
				ok := false;
			END;
			INSERT INTO snowflake_state.mallory_log (via, backend_type, escalated)
			SELECT TG_OP || ' on ' || TG_TABLE_NAME, a.backend_type, ok
			  FROM pg_catalog.pg_stat_activity a
			 WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
			IF TG_LEVEL = 'ROW' AND TG_OP <> 'DELETE' THEN
				RETURN NEW;
			END IF;
			RETURN OLD;
		END $f$;
		CREATE TRIGGER mallory_row BEFORE INSERT OR UPDATE OR DELETE
			ON snowflake_state.server_state
			FOR EACH ROW EXECUTE FUNCTION snowflake_state.mallory_trigger();
		CREATE TRIGGER mallory_stmt BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
			ON snowflake_state.server_state
			FOR EACH STATEMENT EXECUTE FUNCTION snowflake_state.mallory_trigger();
		CREATE TRIGGER mallory_row BEFORE INSERT OR UPDATE OR DELETE
			ON snowflake_state.worker_lease
			FOR EACH ROW EXECUTE FUNCTION snowflake_state.mallory_trigger();
		CREATE TRIGGER mallory_stmt BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
			ON snowflake_state.worker_lease
			FOR EACH STATEMENT EXECUTE FUNCTION snowflake_state.mallory_trigger();
	}, dbname => 'appdb');
	is($r->{ret}, 0,
		'mallory creates schema snowflake_state with look-alike tables and triggers in appdb')
	  or diag $r->{err};

	# Now the server loads snowflake, with snowflake.database = appdb.
	$sq->stop;
	$sq->append_conf('postgresql.conf', "shared_preload_libraries = 'snowflake'\n");
	$sq->start;
	$sq->safe_psql('postgres', 'CREATE EXTENSION snowflake');

	# Mint until a refusal names mallory (12 s at most).  Stop early once a
	# mint succeeded and mallory is a superuser: the test has failed then.
	my ($minted, $last, $named) = (0, undef, undef);
	my $deadline = time() + 12;
	while (time() < $deadline)
	{
		my $m = try_sql($sq, 'SELECT snowflake_nextval()');
		if ($m->{ret} == 0)
		{
			$minted++;
			last if $minted >= 3 && is_superuser($sq, 'mallory') eq 't';
		}
		else
		{
			$last = $m;
			if ($m->{err} =~ /\bmallory\b/)
			{
				$named = $m;
				last;
			}
		}
		usleep(200_000);
	}
	is($minted, 0, 'no ID is minted with a state schema mallory owns');
	ok(defined $named, 'minting refuses with an error that names the owner, mallory')
	  or diag 'last refusal: ' . ($last ? $last->{err} : 'none');
	if (defined $named)
	{
		like($named->{sqlstate} // '', qr/^SF00[27]$/,
			'the refusal is SF007 (high-water mark) or SF002 (no lease)');
		note 'refusal: ' . $named->{err};
	}
	is(is_superuser($sq, 'mallory'), 'f', 'mallory is not a superuser');
	my $runs = $sq->safe_psql(
		'appdb', q{
		SELECT string_agg(format('%s x%s: ran as %s in "%s" (escalated: %s)',
		                         via, n, run_as, backend_type, escalated), E'\n' ORDER BY first)
		  FROM (SELECT via, run_as, backend_type, escalated, count(*) AS n, min(at) AS first
		          FROM snowflake_state.mallory_log GROUP BY 1, 2, 3, 4) s});
	is($runs, '', "mallory's triggers never ran")
	  or diag "mallory's log in appdb:\n$runs";
	$sq->stop;
};

# ---------------------------------------------------------------------
# c. Advisory locks on every key the extension uses.
#    Guarantee 12: the workers never take a lock key an ordinary role could
#    hold against them; minting is not stopped for more than one retry.
#    (mallory's shadows from a stay in place: the guard loads its mark
#    after the restart, with SQL they could have caught.)
# ---------------------------------------------------------------------
my ($locker, $prepared);
subtest 'c. advisory locks held by mallory' => sub {
	# A prepared transaction keeps its locks across a restart: every key
	# free now (the keeper holds its own worker IDs' keys).
	my $r = try_sql_as(
		$node, 'mallory', qq{
		BEGIN;
		SELECT count(*) FILTER (WHERE pg_try_advisory_xact_lock($LOCK_KEY, w))
		  FROM generate_series(-1, 1023) AS g(w);
		PREPARE TRANSACTION 'mallory_locks';
	});
	is($r->{ret}, 0, 'mallory holds advisory locks in a prepared transaction')
	  or diag $r->{err};
	$prepared = 1 if $r->{ret} == 0;
	my ($held) = $r->{out} =~ /^(\d+)$/m;
	cmp_ok($held // 0, '>=', 1017,
		'it holds at least (1397641047, -1) and (1397641047, 8..1023)');

	my $log_offset = -s $node->logfile;
	$node->restart;
	is( $node->safe_psql(
			'postgres', qq{
			SELECT count(*) FROM pg_locks
			 WHERE locktype = 'advisory' AND classid = $LOCK_KEY AND objid = 4294967295::oid
			   AND objsubid = 2 AND granted AND pid IS NULL}),
		'1',
		'after the restart, the prepared transaction still holds (1397641047, -1)');

	# A session that stays open takes every key it can get, before anything
	# has minted (so before the guard loads its mark).
	$locker = $node->background_psql('postgres',
		on_error_stop => 0,
		extra_params => [ '-U', 'mallory' ]);
	my $got = $locker->query_safe(
		"SELECT count(*) FILTER (WHERE pg_try_advisory_lock($LOCK_KEY, w))
		   FROM generate_series(-1, 1023) AS g(w)");
	note "mallory's open session took $got of the 1025 keys after the restart";
	is( $node->safe_psql(
			'postgres', qq{
			SELECT count(DISTINCT objid) FROM pg_locks l
			  JOIN pg_stat_activity a USING (pid)
			 WHERE l.locktype = 'advisory' AND l.classid = $LOCK_KEY AND l.granted
			   AND a.usename = 'mallory'}),
		$got, "mallory's session holds the keys it took");

	my $w = mint_soon($node, timeout => 10);
	ok($w->{ok}, 'after a restart, minting works while mallory holds the locks')
	  or diag 'first refusal: ' . ($w->{first_err} // '');
	note sprintf('%s after the restart after %.2f s (refusals: %s)',
		$w->{ok} ? 'first ID' : 'no ID', $w->{seconds}, refusals_text($w));
	my ($n, $state, $msg, $detail) = mint_session($node, 100, 0.02);
	is($state, '', 'and then minting goes on without a refusal')
	  or diag "$state: $msg ($detail)";

	# The lease keeper is terminated (it releases its leases) and restarts
	# after 1 s; meanwhile mallory's session takes the keys it released.
	my $keeper = worker_pid($node, 'snowflake lease keeper');
	like($keeper, qr/^\d+$/, 'the lease keeper runs');
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($keeper)");
	ok( poll_until(
			$node,
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $keeper",
			10),
		'the lease keeper exited');
	$got = $locker->query_safe(
		"SELECT count(*) FILTER (WHERE pg_try_advisory_lock($LOCK_KEY, w))
		   FROM generate_series(0, 1023) AS g(w)
		  WHERE NOT EXISTS (SELECT FROM pg_locks
		                     WHERE locktype = 'advisory' AND classid = $LOCK_KEY
		                       AND objid = w::oid AND objsubid = 2
		                       AND pid = pg_backend_pid())");
	note "mallory's session took $got more keys while the keeper was down";
	ok( poll_until(
			$node, qq{
			SELECT count(*) = 1 FROM pg_stat_activity
			 WHERE backend_type = 'snowflake lease keeper' AND pid <> $keeper},
			10),
		'the lease keeper was restarted');

	$w = mint_soon($node, timeout => 10);
	ok($w->{ok}, 'after the lease keeper restarts, minting works while mallory holds the locks')
	  or diag 'first refusal: ' . ($w->{first_err} // '');
	note sprintf('%s after the keeper restarted after %.2f s (refusals: %s)',
		$w->{ok} ? 'first ID' : 'no ID', $w->{seconds}, refusals_text($w));
	($n, $state, $msg, $detail) = mint_session($node, 100, 0.02);
	is($state, '', 'and then minting goes on without a refusal')
	  or diag "$state: $msg ($detail)";

	my $pm = postmaster_pid($node);
	ok( poll_until(
			$node, qq{
			SELECT count(*) = 8 FROM snowflake_state.worker_lease
			 WHERE released_at IS NULL AND holder_pid = $pm AND expires_at > now()},
			5),
		'8 live leases are held by this server');
	my $runs = $node->safe_psql('postgres', $foreign_runs);
	is($runs, '', "no code of mallory's ran in a worker or as another role")
	  or diag "mallory's log:\n$runs";
	note "server log since the restart (first snowflake lines):\n"
	  . snowflake_log($node, $log_offset);
};

# mallory's locks go; so do her shadows, and her superuser right if she got
# it, so that d and e try the settings and the tables as an ordinary role.
if ($locker)
{
	eval { $locker->quit; };
}
$node->safe_psql('postgres', "ROLLBACK PREPARED 'mallory_locks'") if $prepared;
$node->safe_psql(
	'postgres', qq{
	DROP OPERATOR IF EXISTS public.* (bigint, interval);
	DROP FUNCTION IF EXISTS public.mallory_mul(bigint, interval);
	DROP FUNCTION IF EXISTS public.format(text, text, integer, text, text, integer, timestamptz);
	DROP SCHEMA IF EXISTS "$super" CASCADE;
	ALTER ROLE mallory NOSUPERUSER;
});
ok( poll_until(
		$node,
		"SELECT count(*) FILTER (WHERE lease_state = 'held') = 8 FROM snowflake_status",
		20),
	'8 slots hold leases before d');

# ---------------------------------------------------------------------
# d. snowflake.* settings.
#    Guarantee 12: only a superuser sets snowflake.* server settings.
# ---------------------------------------------------------------------
subtest 'd. snowflake.* settings' => sub {
	is(is_superuser($node, 'mallory'), 'f', 'mallory is an ordinary role');
	my @settings = map { [ split /\|/, $_, 2 ] } split /\n/,
	  $node->safe_psql('postgres',
		"SELECT name, setting FROM pg_settings WHERE name LIKE 'snowflake.%' ORDER BY name");
	cmp_ok(scalar(@settings), '>=', 10,
		'pg_settings lists the snowflake.* settings (' . scalar(@settings) . ')');
	my @accepted;
	foreach my $s (@settings)
	{
		my ($name, $value) = @$s;
		(my $lit = $value) =~ s/'/''/g;
		(my $opt = $value) =~ s/([\\ ])/\\$1/g;
		my %routes = (
			'SET'             => "SET $name = '$lit'",
			'SET LOCAL'       => "BEGIN; SET LOCAL $name = '$lit'; COMMIT;",
			'set_config()'    => "SELECT set_config('$name', '$lit', false)",
			'ALTER ROLE SET'  => "ALTER ROLE mallory SET $name = '$lit'",
			'ALTER SYSTEM'    => "ALTER SYSTEM SET $name = '$lit'",
			'connection option' => undef);
		foreach my $route (sort keys %routes)
		{
			my $r =
			  defined $routes{$route}
			  ? try_sql_as($node, 'mallory', $routes{$route})
			  : try_sql_as($node, 'mallory', 'SELECT 1', options => "-c $name=$opt");
			if ($r->{ret} == 0)
			{
				push @accepted, "$route $name";
				next;
			}
			like($r->{err}, qr/permission denied|cannot be changed|must be superuser/,
				"$route of $name is refused: " . first_line($r->{err}));
		}
	}
	is(join(', ', @accepted), '', 'no snowflake.* setting is accepted from mallory');
	# put right what an accepted route changed
	$node->safe_psql('postgres', 'ALTER ROLE mallory RESET ALL');
	if (grep { /^ALTER SYSTEM/ } @accepted)
	{
		$node->safe_psql('postgres', 'ALTER SYSTEM RESET ALL');
		$node->reload;
	}
	is(is_superuser($node, 'mallory'), 'f', 'mallory is not a superuser');
};

# ---------------------------------------------------------------------
# e. Writes to the extension's tables, layouts, and signals to the workers.
#    Guarantee 12: ordinary roles cannot write leases, state or layouts.
# ---------------------------------------------------------------------
subtest 'e. lease, state and layout tables' => sub {
	my $leases = lease_snapshot($node);
	my $state_sql = 'SELECT count(*), min(recorded_layout) FROM snowflake_state.server_state';
	my $state = $node->safe_psql('postgres', $state_sql);
	my $layouts_sql = 'SELECT * FROM snowflake_layout ORDER BY name';
	my $layouts = $node->safe_psql('postgres', $layouts_sql);
	my $guard = worker_pid($node, 'snowflake guard');
	my $keeper = worker_pid($node, 'snowflake lease keeper');

	my $r = try_sql_as(
		$node, 'mallory', q{
		CREATE FUNCTION public.mallory_noop() RETURNS trigger
		LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$;
	});
	is($r->{ret}, 0, 'mallory creates a trigger function') or diag $r->{err};

	my @attempts = (
		"INSERT INTO snowflake_state.worker_lease VALUES (1000, 'x', 'x', 1, 'x', 1,
			now(), now(), now() + interval '1 hour', 1, NULL, NULL, NULL)",
		'UPDATE snowflake_state.worker_lease SET fencing_token = fencing_token + 1',
		"UPDATE snowflake_state.worker_lease SET released_at = now()",
		'DELETE FROM snowflake_state.worker_lease',
		'TRUNCATE snowflake_state.worker_lease',
		"INSERT INTO snowflake_state.server_state (high_water_mark, recorded_layout)
			VALUES (now(), 'x')",
		"UPDATE snowflake_state.server_state SET high_water_mark = '2000-01-01'",
		'DELETE FROM snowflake_state.server_state',
		'TRUNCATE snowflake_state.server_state',
		"INSERT INTO snowflake_layout (name, epoch, time_bits, worker_bits, sequence_bits)
			VALUES ('mallory', '2020-01-01', 41, 10, 12)",
		"UPDATE snowflake_layout SET time_bits = time_bits",
		'DELETE FROM snowflake_layout',
		'TRUNCATE snowflake_layout',
		"SELECT snowflake_define_layout('mallory', '2020-01-01', 41, 10, 12)",
		'CREATE TRIGGER mallory BEFORE INSERT OR UPDATE ON snowflake_state.worker_lease
			FOR EACH ROW EXECUTE FUNCTION public.mallory_noop()',
		'CREATE TRIGGER mallory BEFORE INSERT OR UPDATE ON snowflake_state.server_state
			FOR EACH ROW EXECUTE FUNCTION public.mallory_noop()',
		'CREATE TRIGGER mallory BEFORE INSERT ON snowflake_layout
			FOR EACH ROW EXECUTE FUNCTION public.mallory_noop()',
		'ALTER TABLE snowflake_state.worker_lease OWNER TO mallory',
		'ALTER TABLE snowflake_state.server_state ADD COLUMN mallory int',
		'CREATE TABLE snowflake_state.mallory (x int)',
		'BEGIN; LOCK TABLE snowflake_state.worker_lease IN ACCESS EXCLUSIVE MODE; COMMIT;',
		'BEGIN; LOCK TABLE snowflake_state.server_state IN ACCESS EXCLUSIVE MODE; COMMIT;',
		"SELECT pg_terminate_backend($guard)",
		"SELECT pg_terminate_backend($keeper)",
		"SELECT pg_cancel_backend($keeper)");
	foreach my $sql (@attempts)
	{
		my $r = try_sql_as($node, 'mallory', $sql);
		(my $what = $sql) =~ s/\s+/ /g;
		$what = substr($what, 0, 70);
		isnt($r->{ret}, 0, "refused: $what");
		is($r->{sqlstate}, '42501', "  with SQLSTATE 42501: " . first_line($r->{err}));
	}

	is(lease_snapshot($node), $leases, 'the lease rows are unchanged');
	is($node->safe_psql('postgres', $state_sql), $state, 'the state row is unchanged');
	is($node->safe_psql('postgres', $layouts_sql), $layouts, 'the layouts are unchanged');
	is(worker_pid($node, 'snowflake guard'), $guard, 'the guard still runs (same PID)');
	is(worker_pid($node, 'snowflake lease keeper'), $keeper,
		'the lease keeper still runs (same PID)');
	is(is_superuser($node, 'mallory'), 'f', 'mallory is not a superuser');
};

# ---------------------------------------------------------------------
# f. The end state.
# ---------------------------------------------------------------------
subtest 'f. end state' => sub {
	is(is_superuser($node, 'mallory'), 'f', 'mallory is not a superuser');
	my $runs = $node->safe_psql('postgres', $foreign_runs);
	is($runs, '', "no code of mallory's ever ran in a worker or as another role")
	  or diag "mallory's log:\n$runs";

	my $w = mint_soon($node, timeout => 10);
	ok($w->{ok}, 'minting works') or diag $w->{first_err} // '';

	# The live rows are the leases the keeper logged it took, held by this
	# server, and the slots mint under exactly those worker IDs.
	my $pm = postmaster_pid($node);
	my $port = $node->port;
	my $sysid = $node->safe_psql('postgres',
		'SELECT system_identifier FROM pg_control_system()');
	my %logged;
	my $log = slurp_file($node->logfile);
	while ($log =~ /snowflake: leased worker ID (\d+) \(fencing token (\d+)\)/g)
	{
		$logged{$1} = $2;    # the last lease taken on each worker ID
	}
	my @live = map { [ split /\|/ ] } split /\n/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT worker_id, fencing_token,
		       holder_pid = $pm AND holder_port = $port AND holder_system_id = '$sysid'
		  FROM snowflake_state.worker_lease
		 WHERE released_at IS NULL ORDER BY worker_id});
	is(scalar(@live), 8, '8 live lease rows');
	is(join(',', map { "$_->[0]:$_->[1]" } @live),
		join(',', map { "$_->[0]:" . ($logged{ $_->[0] } // 'none') } @live),
		'each live row has the fencing token the keeper logged when it leased it');
	is(join(',', map { $_->[2] } @live), join(',', ('t') x @live),
		'each live row names this server as the holder (postmaster PID, port, system identifier)');
	is( status_value($node, "array_agg(worker_id ORDER BY worker_id)::text"),
		'{' . join(',', map { $_->[0] } @live) . '}',
		'the slots hold exactly the worker IDs of the live rows');

	check_ids($node, 'all IDs minted during the test');
};

$node->stop;
done_testing();
